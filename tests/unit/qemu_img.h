// qemu-img as the oracle of the qcow2 unit tests: writes an image held in
// memory to a temporary file and runs `qemu-img check` on it.
#ifndef E2Q_TESTS_UNIT_QEMU_IMG_H_
#define E2Q_TESTS_UNIT_QEMU_IMG_H_

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace e2q {

// True when qemu-img runs here (scripts/deps.sh installs it).
inline bool HaveQemuImg() {
  return std::system("qemu-img --version >/dev/null 2>&1") == 0;
}

// `qemu-img check`'s exit status on `data` (0: no errors, no leaks), or
// 100 when `blkid -p` finds a filesystem or partition table in it (no
// qcow2 file may probe as its guest).
inline int QemuCheck(const std::vector<uint8_t>& data) {
  char path[] = "/tmp/e2q-unit-qemu-check-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  if (fd < 0) return -1;
  EXPECT_EQ(write(fd, data.data(), data.size()),
            static_cast<ssize_t>(data.size()));
  close(fd);
  const std::string cmd =
      std::string("qemu-img check -f qcow2 ") + path + " >/dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  const std::string probe = std::string("blkid -p -o export ") + path +
                            " 2>/dev/null | grep -E '^(PT)?TYPE=' |"
                            " grep -qv '=qcow2$'";
  const bool probes = std::system(probe.c_str()) == 0;
  unlink(path);
  if (probes) return 100;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace e2q

#endif  // E2Q_TESTS_UNIT_QEMU_IMG_H_
