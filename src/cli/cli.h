/* Subcommands of the hermes-router binary. Each takes argc/argv starting at
 * the subcommand name and returns the process exit status. Errors are one
 * line on stderr. */
#ifndef HR_CLI_CLI_H
#define HR_CLI_CLI_H

int hr_cmd_serve(int argc, char **argv);     /* cli/serve.c: run the gateway */
int hr_cmd_route(int argc, char **argv);     /* cli/route.c: dry-run routing */
int hr_cmd_log(int argc, char **argv);       /* cli/log.c: log export */
int hr_cmd_run(int argc, char **argv);       /* cli/run.c: generate with a GGUF */
int hr_cmd_embed(int argc, char **argv);     /* cli/embed.c: sentence embedding with a BERT GGUF */
int hr_cmd_bench(int argc, char **argv);     /* cli/bench.c: engine benchmark */
int hr_cmd_gguf(int argc, char **argv);      /* cli/gguf.c: gguf info | synth */
int hr_cmd_tokenize(int argc, char **argv);  /* cli/tokenize.c: tokenize text with a vocab */
int hr_cmd_train(int argc, char **argv);     /* cli/train.c: train the classifier */
int hr_cmd_eval(int argc, char **argv);      /* cli/eval.c: evaluate routers */
int hr_cmd_calibrate(int argc, char **argv); /* cli/calibrate.c */
int hr_cmd_label(int argc, char **argv);     /* cli/label.c */
int hr_cmd_cost(int argc, char **argv);      /* cli/cost.c: cost model */
int hr_cmd_pull(int argc, char **argv);      /* cli/pull.c: download a GGUF into the models folder */

#endif
