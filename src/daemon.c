#include "daemon.h"
