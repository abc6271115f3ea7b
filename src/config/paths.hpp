// paths.hpp -- file system places compiled into the programs.
//
// SES_SYSCONFDIR comes from ./configure (--sysconfdir, default /etc) through
// the Makefile, so the default configuration file is where `make install`
// puts the configuration directory.  Constants only; thread-safe.
#pragma once

#ifndef SES_SYSCONFDIR
#define SES_SYSCONFDIR "/etc"
#endif

namespace ses::config {

inline constexpr const char* kDefaultConfigFile = SES_SYSCONFDIR "/sesmilter/sesmilter.toml";

}  // namespace ses::config
