/* ima_test.h - helpers shared by the Check suites. */
#ifndef IMA_TEST_H
#define IMA_TEST_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ima_core.h"
#include "front.h"

Suite *ctx_suite(void);
Suite *codec_suite(void);
Suite *loader_suite(void);
Suite *pipeline_suite(void);
Suite *config_suite(void);
Suite *request_suite(void);
Suite *analysis_suite(void);
Suite *metrics_suite(void);
Suite *data_suite(void);

/* Directory of the test plugins (.libs of tests/plugins). */
const char *test_plugin_dir(void);
/* Writes text to a new file in the test's temporary directory; returns its
 * path (static storage, one per call slot). */
const char *test_write_file(const char *name, const char *text);
/* Loads a config given as text; NULL with err on failure. */
struct ima_engine *test_engine(const char *conf_text, struct ima_error *err);
/* Runs a JSON request through eng; returns the HTTP status. */
int test_run_json(struct ima_engine *eng, const char *json, struct ima_req **out);

#endif
