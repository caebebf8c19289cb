#include "pop3.h"
