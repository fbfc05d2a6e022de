# Web UI embedding: web/ (Vite + TypeScript) is built with npm into web/dist
# and turned into a generated C table ({path, content type, bytes}) compiled
# into hr_gateway, so the gateway binary serves the UI itself, offline.
#
#   - The UI is rebuilt only when a file under web/ changed (the custom
#     command's dependencies), and npm runs only when web/dist is stale for
#     those sources (a content hash shared by every build directory).
#   - Without npm (or when its build fails) the table is empty and the gateway
#     serves its small fallback page; a warning says so. With
#     -DHR_WEBUI_REQUIRED=ON (make test / make run) that is an error instead.
#   - -DHR_WEBUI=OFF skips npm entirely (fallback page).
option(HR_WEBUI "Build the web UI with npm and embed it" ON)
option(HR_WEBUI_REQUIRED "Fail the build when the web UI cannot be built" OFF)
find_program(HR_NPM npm)

set(HR_WEB_DIR ${CMAKE_SOURCE_DIR}/web)
file(GLOB_RECURSE hr_web_inputs CONFIGURE_DEPENDS
     ${HR_WEB_DIR}/src/*
     ${HR_WEB_DIR}/public/*)
list(APPEND hr_web_inputs
     ${HR_WEB_DIR}/index.html ${HR_WEB_DIR}/package.json ${HR_WEB_DIR}/package-lock.json
     ${HR_WEB_DIR}/vite.config.ts ${HR_WEB_DIR}/tsconfig.json)
set(hr_web_existing)
foreach(f ${hr_web_inputs})
  if(EXISTS ${f})
    list(APPEND hr_web_existing ${f})
  endif()
endforeach()

set(HR_WEBUI_C ${CMAKE_BINARY_DIR}/webui/webui_assets.c)
if(HR_WEBUI AND HR_NPM)
  set(hr_webui_npm ${HR_NPM})
else()
  set(hr_webui_npm "")
endif()
add_custom_command(
  OUTPUT ${HR_WEBUI_C}
  COMMAND ${CMAKE_COMMAND} -DWEB_DIR=${HR_WEB_DIR} -DOUT=${HR_WEBUI_C} "-DNPM=${hr_webui_npm}"
          -DREQUIRED=${HR_WEBUI_REQUIRED} -P ${CMAKE_SOURCE_DIR}/cmake/webui_embed.cmake
  DEPENDS ${hr_web_existing} ${CMAKE_SOURCE_DIR}/cmake/webui_embed.cmake
  COMMENT "Web UI: build (npm, when web/ changed) and embed"
  VERBATIM)
target_sources(hr_gateway PRIVATE ${HR_WEBUI_C})

# Browser test (label "browser"): Playwright + Debian's chromium against the
# real gateway. Registered at the end of the directory (after enable_testing);
# exits 77 (skipped) when chromium, node or web/node_modules is missing.
function(hr_webui_register_browser_test)
  find_program(PYTHON3 python3 REQUIRED)
  add_test(NAME browser.webui COMMAND ${PYTHON3} ${CMAKE_SOURCE_DIR}/tests/browser/test_webui.py
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(browser.webui PROPERTIES LABELS browser TIMEOUT 300 SKIP_RETURN_CODE 77
    ENVIRONMENT "HR_SHARED=${CMAKE_SOURCE_DIR}/../shared;HR_SRC=${CMAKE_SOURCE_DIR};HR_BIN=${CMAKE_BINARY_DIR}/hermes-router")
endfunction()
cmake_language(DEFER CALL hr_webui_register_browser_test)
