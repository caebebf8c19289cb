#include "imap_parse.h"
