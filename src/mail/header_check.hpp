// header_check.hpp -- is this header block one we may sign and pass on?
//
// Pure.  Refuses what RFC 5322 forbids and what DKIM replay and display
// tricks rely on: no From:, several From: (or other singleton) fields, a
// From: that names no mailbox, header names with bytes outside 33..126,
// lines over 998 bytes.  The Error carries `554 5.6.0` and the reason.
#pragma once

#include "mail/message.hpp"
#include "util/result.hpp"

namespace ses::mail {

Status check_headers(const Message& msg);

}  // namespace ses::mail
