#include "maildir.h"
