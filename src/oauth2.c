#include "oauth2.h"
