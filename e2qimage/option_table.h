// The option table: every option once, with its letter, long name,
// argument and help text.  The getopt_long strings and the option part of
// --help are both built from it, so that the parser and the help cannot
// drift apart (func/man_page holds the man page to the help).
#ifndef E2Q_E2QIMAGE_OPTION_TABLE_H_
#define E2Q_E2QIMAGE_OPTION_TABLE_H_

#include <getopt.h>

#include <string>
#include <vector>

namespace e2q::cli {

// Keys of the options that have no letter (getopt_long's `val`).
enum LongOnly {
  kOptClusterSize = 256,
  kOptCompat,
  kOptThreads,
  kOptBacking,
  kOptInfo,
  kOptVerify,
  kOptHelp,
  kOptVersion,
  kOptCompress,
  kOptNoSync,
  kOptSync,
  kOptForceShare,
  kOptPartition,
  kOptOutput,
  kOptRateLimit,
  kOptNoShare,
};

struct OptionSpec {
  int key;              // the letter, a LongOnly value, or 0: a help line only
  const char* name;     // long name (null: none)
  int has_arg;          // no_argument, required_argument, optional_argument
  const char* usage;    // the left column of --help
  const char* help;     // the right column; '\n' starts a continuation line
  const char* section;  // a heading printed before this entry, or null
};

const std::vector<OptionSpec>& OptionTable();

// getopt_long's short option string (with a leading ':') and long options
// (terminated by a zero entry), from the table.
std::string ShortOptions();
std::vector<struct option> LongOptions();

// The option part of --help.
std::string OptionHelp();

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_OPTION_TABLE_H_
