#include "pop3_parse.h"
