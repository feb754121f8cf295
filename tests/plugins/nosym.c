/* nosym - a shared object without the ima_plugin_nosym descriptor. */
#include "ima_plugin.h"

IMA_PLUGIN_EXPORT const int ima_plugin_something_else = 1;
