/* datausea - see datause.h. */
#define DATAUSE_NAME "datausea"
#define DATAUSE_SYMBOL ima_plugin_datausea
#include "datause.h"
