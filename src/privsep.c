#include "privsep.h"
