#include "diagnose.h"
