// UnlinkedVarTmpFile: a scratch file on a disk-backed file system, for tests
// of what the kernel does with a real file's blocks (extent maps,
// allocation ahead): /var/tmp, as /tmp may be tmpfs.  Unlinked at once, so
// nothing is left behind however the test ends.
#ifndef E2Q_TESTS_UNIT_VAR_TMP_FILE_H_
#define E2Q_TESTS_UNIT_VAR_TMP_FILE_H_

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "lib/io/posix_file.h"

namespace e2q {

// The file as a PosixFile that owns it (null, with a test failure, when it
// cannot be made); `stem` names it in messages.
inline std::unique_ptr<io::PosixFile> UnlinkedVarTmpFile(
    const std::string& stem) {
  std::string path = "/var/tmp/" + stem + "-XXXXXX";
  const int fd = ::mkstemp(path.data());
  if (fd < 0) {
    ADD_FAILURE() << "mkstemp " << path;
    return nullptr;
  }
  ::unlink(path.c_str());
  return std::make_unique<io::PosixFile>(path, fd, /*owns_fd=*/true);
}

}  // namespace e2q

#endif  // E2Q_TESTS_UNIT_VAR_TMP_FILE_H_
