// Running the e2fsprogs tools from unit tests, with the environment pinned
// as in the functional tests, and reading back the files they make.
#ifndef E2Q_TESTS_UNIT_SHELL_H_
#define E2Q_TESTS_UNIT_SHELL_H_

#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace e2q {

// Runs `cmd` with sh after pinning mke2fs.conf, the time, the locale and
// the time zone; returns its exit status (-1 if it did not exit).
inline int Sh(const std::string& cmd) {
  static const char kEnv[] =
      "export MKE2FS_CONFIG=/dev/null E2FSPROGS_FAKE_TIME=1700000000 LC_ALL=C "
      "TZ=UTC PATH=/usr/sbin:/sbin:$PATH; ";
  const int rc = std::system((kEnv + cmd).c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// The whole content of `path` (empty if it cannot be read).
inline std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream is(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(is), {});
}

}  // namespace e2q

#endif  // E2Q_TESTS_UNIT_SHELL_H_
