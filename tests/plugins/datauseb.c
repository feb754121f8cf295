/* datauseb - see datause.h. */
#define DATAUSE_NAME "datauseb"
#define DATAUSE_SYMBOL ima_plugin_datauseb
#include "datause.h"
