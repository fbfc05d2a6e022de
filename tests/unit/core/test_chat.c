/* Request parsing and validation: every malformed shape is a 400 with a
 * message and the offending param; valid requests expose what routing needs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/chat.h"

static int parse(const char *body, hr_chat_request *req, hr_request_error *err) {
    memset(err, 0, sizeof *err);
    return hr_chat_request_parse(body, strlen(body), req, err);
}

static void test_valid_request(void **state) {
    (void)state;
    hr_chat_request req;
    hr_request_error err;
    assert_int_equal(parse("{\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                           "{\"role\":\"user\",\"content\":\"翻译这句话\"}],\"max_tokens\":100,\"stream\":true,"
                           "\"stream_options\":{\"include_usage\":true}}",
                           &req, &err),
                     0);
    assert_string_equal(req.model, "auto");
    assert_int_equal(req.n_messages, 2);
    assert_int_equal(req.messages[1].chars, 5); /* characters, not bytes */
    assert_int_equal(req.context_chars, 8 + 5);
    assert_ptr_equal(req.last_user, &req.messages[1]);
    assert_true(req.stream);
    assert_true(req.include_usage);
    assert_int_equal(req.max_tokens, 100);
    assert_false(req.has_tools);
    hr_chat_request_free(&req);
}

static void test_content_parts_and_tools(void **state) {
    (void)state;
    hr_chat_request req;
    hr_request_error err;
    assert_int_equal(parse("{\"model\":\"small\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                           "\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]},{\"role\":\"assistant\","
                           "\"content\":null,\"tool_calls\":[]}],\"tools\":[{\"type\":\"function\",\"function\":"
                           "{\"name\":\"f\"}}],\"max_completion_tokens\":7,\"response_format\":{\"type\":\"json_object\"}}",
                           &req, &err),
                     0);
    assert_string_equal(req.model, "small");
    assert_string_equal(req.messages[0].text, "a\nb");
    assert_string_equal(req.messages[1].text, "");
    assert_true(req.has_tools);
    assert_true(req.has_response_format);
    assert_int_equal(req.max_tokens, 7);
    hr_chat_request_free(&req);
}

static void expect_error(const char *body, const char *param) {
    hr_chat_request req;
    hr_request_error err;
    assert_int_equal(parse(body, &req, &err), -1);
    assert_true(strlen(err.message) > 0);
    assert_string_equal(err.param, param);
    hr_chat_request_free(&req); /* safe on a failed parse */
}

static void test_malformed(void **state) {
    (void)state;
    expect_error("{not json", "");
    expect_error("[1,2]", "");
    expect_error("{}", "messages");
    expect_error("{\"messages\":{}}", "messages");
    expect_error("{\"messages\":[]}", "messages");
    expect_error("{\"messages\":[1]}", "messages[0]");
    expect_error("{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "messages[0]");
    expect_error("{\"messages\":[{\"role\":7,\"content\":\"x\"}]}", "messages[0]");
    expect_error("{\"messages\":[{\"role\":\"user\"}]}", "messages[0]");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0].content");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}", "temperature");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":3}", "temperature");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1.5}", "max_tokens");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":\"yes\"}", "stream");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"model\":3}", "model");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[1]}", "stop");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{}]}", "tools");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"xml\"}}",
                 "response_format.type");
}

/* Texts point into the tree unless parts are joined; joining adds a newline
 * only after non-empty text; the first member of a repeated name counts. */
static void test_text_sources_and_duplicates(void **state) {
    (void)state;
    hr_chat_request req;
    hr_request_error err;
    assert_int_equal(parse("{\"model\":\"a\",\"model\":\"b\",\"messages\":["
                           "{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"},{\"type\":\"text\",\"text\":\"solo\"}]},"
                           "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"\"},{\"type\":\"text\",\"text\":\"x\"},"
                           "{\"type\":\"text\",\"text\":\"y\"}]},"
                           "{\"role\":\"system\",\"role\":\"user\",\"content\":\"\u00e9t\u00e9\"}]}",
                           &req, &err),
                     0);
    assert_string_equal(req.model, "a");
    assert_int_equal(req.n_messages, 3);
    assert_string_equal(req.messages[0].text, "solo");
    assert_false(req.messages[0].text_owned);
    assert_int_equal(req.messages[0].text_len, 4);
    assert_string_equal(req.messages[1].text, "x\ny");
    assert_true(req.messages[1].text_owned);
    assert_int_equal(req.messages[1].text_len, 3);
    assert_int_equal(req.messages[2].role, HR_ROLE_SYSTEM);
    assert_int_equal(req.messages[2].text_len, 5);
    assert_int_equal(req.messages[2].chars, 3);
    assert_int_equal(req.context_chars, 4 + 3 + 3);
    assert_ptr_equal(req.last_user, &req.messages[1]);
    hr_chat_request_free(&req);
}

static void expect_message(const char *body, const char *param, const char *message) {
    hr_chat_request req;
    hr_request_error err;
    assert_int_equal(parse(body, &req, &err), -1);
    assert_string_equal(err.param, param);
    assert_string_equal(err.message, message);
    hr_chat_request_free(&req);
}

/* The exact messages of errors about one message (names built on error only). */
static void test_message_error_texts(void **state) {
    (void)state;
    const char *ok = "{\"role\":\"user\",\"content\":\"hi\"}";
    char body[512];
    snprintf(body, sizeof body, "{\"messages\":[%s,%s,{\"role\":\"wizard\",\"content\":\"x\"}]}", ok, ok);
    expect_message(body, "messages[2]",
                   "messages[2].role 'wizard' is not one of system, user, assistant, tool, developer");
    snprintf(body, sizeof body, "{\"messages\":[%s,7]}", ok);
    expect_message(body, "messages[1]", "messages[1] must be an object");
    expect_message("{\"messages\":[{\"content\":\"x\"}]}", "messages[0]", "messages[0].role must be a string");
    expect_message("{\"messages\":[{\"role\":\"tool\"}]}", "messages[0]", "messages[0].content is required");
    snprintf(body, sizeof body, "{\"messages\":[%s,{\"role\":\"user\",\"content\":{}}]}", ok);
    expect_message(body, "messages[1].content", "messages[1].content must be a string or an array of content parts");
    expect_message("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
                   "{\"type\":\"text\",\"text\":\"b\"},3]}]}",
                   "messages[0].content", "messages[0].content: each content part must be an object");
    expect_message("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"text\":\"b\"}]}]}",
                   "messages[0].content", "messages[0].content: content part without a string 'type'");
    expect_message("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
                   "{\"type\":\"text\",\"text\":\"b\"},{\"type\":\"text\"}]}]}",
                   "messages[0].content", "messages[0].content: text part without a string 'text'");
    snprintf(body, sizeof body, "{\"messages\":[%s],\"top_p\":1.5,\"temperature\":9}", ok);
    expect_message(body, "temperature", "'temperature' must be between 0 and 2"); /* check order, not body order */
    snprintf(body, sizeof body, "{\"messages\":[%s],\"n\":2}", ok);
    expect_message(body, "n", "'n' must be between 1 and 1");
    snprintf(body, sizeof body, "{\"messages\":[%s],\"user\":1}", ok);
    expect_message(body, "user", "'user' must be a string");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_request),
        cmocka_unit_test(test_content_parts_and_tools),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_text_sources_and_duplicates),
        cmocka_unit_test(test_message_error_texts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
