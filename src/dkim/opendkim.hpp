// opendkim.hpp -- the one place libopendkim's header is included.
//
// dkim.h is C99 and spells its booleans `_Bool`, which C++ does not know;
// it also needs <sys/types.h> first.  Every file of src/dkim/ that talks to
// libopendkim includes this header instead of <opendkim/dkim.h>, so the
// work-around exists once.  No other folder may include it.
#pragma once

#include <sys/types.h>

#define _Bool bool
extern "C" {
#include <opendkim/dkim.h>
}
#undef _Bool
