// Page-cache helpers shared by the unit tests that need a file whose data
// is on the disk but not in memory (read-ahead, read-wait counting).
#ifndef E2Q_TESTS_UNIT_PAGE_CACHE_H_
#define E2Q_TESTS_UNIT_PAGE_CACHE_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

namespace e2q {

// Pages of `fd`'s first `len` bytes that are in the page cache.
inline size_t ResidentPages(int fd, size_t len) {
  void* map = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return 0;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec((len + page - 1) / page);
  size_t n = 0;
  if (::mincore(map, len, vec.data()) == 0) {
    for (unsigned char v : vec) n += v & 1;
  }
  ::munmap(map, len);
  return n;
}

// An unlinked temporary file under /var/tmp holding `data`, written to the
// disk and dropped from the page cache: its descriptor; -1 when a step
// failed (reported as a test failure); -2 when the file system keeps the
// pages anyway (tmpfs), and the caller should skip.
inline int UncachedTempFile(const std::vector<uint8_t>& data) {
  char path[] = "/var/tmp/e2q-page-cache-test-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) {
    ADD_FAILURE() << "mkstemp " << path;
    return -1;
  }
  ::unlink(path);
  if (::pwrite(fd, data.data(), data.size(), 0) !=
          static_cast<ssize_t>(data.size()) ||
      ::fsync(fd) != 0 || ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) {
    ADD_FAILURE() << "writing and dropping " << data.size() << " bytes";
    ::close(fd);
    return -1;
  }
  if (ResidentPages(fd, data.size()) != 0) {
    ::close(fd);
    return -2;
  }
  return fd;
}

}  // namespace e2q

#endif  // E2Q_TESTS_UNIT_PAGE_CACHE_H_
