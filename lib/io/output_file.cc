// OutputFile: an unnamed (O_TMPFILE) or hidden temporary file, fsynced with
// `durable`, linked or renamed into place, so that only complete images
// ever carry their final name.
#include "lib/io/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "lib/io/image_lock.h"
#include "lib/io/posix_file.h"

namespace e2q::io {

namespace {

std::string DirName(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string TempTemplate(const std::string& path) {
  return DirName(path) + "/." + BaseName(path) + ".e2q-";
}

std::string ProcFdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// An unnamed file in `dir` that can be linked in later through /proc, or
// -1 where the file system or the system cannot do that (errno set for the
// caller when the folder itself is the problem).
int OpenUnnamed(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  if (::access(ProcFdPath(fd).c_str(), F_OK) != 0) {  // no /proc
    ::close(fd);
    errno = EOPNOTSUPP;
    return -1;
  }
  return fd;
}

// The first number in /proc file `path`, or (`key` given) the number after
// `key` in /proc/meminfo, in kB, as bytes; 0 when it cannot be read.
uint64_t ProcNumber(const char* path, const std::string& key = "") {
  std::ifstream in(path);
  std::string word;
  while (in >> word) {
    if (key.empty()) return std::strtoull(word.c_str(), nullptr, 10);
    if (word == key) {
      uint64_t v = 0;
      return in >> v ? v << 10 : 0;
    }
  }
  return 0;
}

}  // namespace

uint64_t OutputFile::BufferedWriteLimit() {
  // A writer that has dirtied more than vm.dirty_bytes, or dirty_ratio
  // percent of the memory that can hold dirty pages (close to
  // MemAvailable), is made to wait for the disk anyway.
  uint64_t limit = ProcNumber("/proc/sys/vm/dirty_bytes");
  if (limit == 0) {
    limit = ProcNumber("/proc/sys/vm/dirty_ratio") *
            (ProcNumber("/proc/meminfo", "MemAvailable:") / 100);
  }
  return std::max(limit, kDirectWriteThreshold);
}

Result<std::unique_ptr<OutputFile>> OutputFile::Create(
    const std::string& path, uint64_t expected_bytes, bool durable) {
  std::unique_ptr<OutputFile> out(new OutputFile());
  out->path_ = path;
  out->durable_ = durable;
  if (path == "-") {
    out->kind_ = Kind::kStream;
    struct stat st;
    if (::fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) &&
        ::lseek(STDOUT_FILENO, 0, SEEK_CUR) == 0) {
      // A regular file on stdout can take positioned writes, holes included.
      out->file_.reset(new PosixFile("standard output", STDOUT_FILENO, false));
    } else {
      out->file_.reset(new StreamFile("standard output", STDOUT_FILENO));
    }
    out->file_ = Interpose(std::move(out->file_), FileRole::kOutput);
    return out;
  }
  struct stat st;
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists) {
    if (S_ISDIR(st.st_mode)) return Status::FromErrno(path, "create", EISDIR);
    if (S_ISBLK(st.st_mode)) {
      out->kind_ = Kind::kBlockDevice;
      int fd = ::open(path.c_str(), O_WRONLY | O_EXCL | O_CLOEXEC);
      if (fd < 0) return Status::FromErrno(path, "open", errno);
      out->file_.reset(new PosixFile(path, fd, true));
      out->file_ = Interpose(std::move(out->file_), FileRole::kOutput);
      return out;
    }
    if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
      // /dev/null, a tape, a named pipe: written forward, in place.
      out->kind_ = Kind::kStream;
      int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return Status::FromErrno(path, "open", errno);
      out->owned_fd_ = fd;
      out->file_.reset(new StreamFile(path, fd));
      out->file_ = Interpose(std::move(out->file_), FileRole::kOutput);
      return out;
    }
  }
  if (exists && S_ISREG(st.st_mode)) {
    // The file being replaced: refuse it while qemu uses it, as qemu-img
    // would, and keep qemu out of it until it is replaced.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      out->replaced_fd_ = fd;
      E2Q_RETURN_IF_ERROR(LockImage(fd, path, LockIntent::kWrite));
    }
  }
  // Unnamed until Commit(): a run killed even by SIGKILL leaves nothing.
  // Where the file system has no O_TMPFILE, a hidden temporary name.
  int fd = OpenUnnamed(DirName(path));
  if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
    return Status::FromErrno(path, "create temporary file", errno);
  }
  if (fd < 0) {
    std::string tmpl = TempTemplate(path) + "XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    fd = ::mkostemp(buf.data(), O_CLOEXEC);
    if (fd < 0) return Status::FromErrno(path, "create temporary file", errno);
    ::fchmod(fd, 0644 & ~[] {
      mode_t m = ::umask(0);
      ::umask(m);
      return m;
    }());
    out->temp_path_ = buf.data();
  } else {
    out->unnamed_fd_ = fd;
  }
  auto* file = new PosixFile(path, fd, true);
  out->file_.reset(file);
  // Locked from the start: once linked into place (an undo file is, before
  // the device is written), qemu must not open it for writing under us.
  E2Q_RETURN_IF_ERROR(LockImage(fd, path, LockIntent::kWrite));
  // Not durable (the default, as cp): through the page cache, written back
  // by the kernel later, unless the output is larger than the page cache
  // holds before the kernel makes the writer wait for the disk
  // (BufferedWriteLimit): then the page cache no longer saves time and the
  // copy into it costs CPU time (on the 16 GiB usr benchmark filesystem,
  // -Qa (9 GB) took 8-21 s buffered, 6-20 s of it in the kernel, and 7.5-12
  // s direct with 2.2-2.8 s in the kernel; -Qaz 53 s and 42 s).  Below it
  // the page cache is faster (the 8 GiB synthetic tree's -Qa, 3.6 GiB:
  // 1.0-2.9 s buffered, 3.2-3.7 s direct).  Durable:
  // small outputs through the page cache with early writeback, so that the
  // final fsync finds little to do; large ones with O_DIRECT, which waits
  // for the disk anyway and spares the copy (on the 8 GiB benchmark
  // filesystem, -Qa (3.6 GiB) took 3.1-3.7 s direct and 5.6-6.6 s
  // buffered with early writeback).
  if (durable) {
    if (expected_bytes != 0 && expected_bytes < kDirectWriteThreshold) {
      file->EnableEarlyWriteback();
    } else {
      file->EnableDirectWrites();
    }
  } else if (expected_bytes >= BufferedWriteLimit()) {
    file->EnableDirectWrites();
  }
  out->file_ = Interpose(std::move(out->file_), FileRole::kOutput);
  return out;
}

OutputFile::~OutputFile() {
  file_.reset();
  if (owned_fd_ >= 0) ::close(owned_fd_);
  if (replaced_fd_ >= 0) ::close(replaced_fd_);
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

Status OutputFile::LinkIntoPlace() {
  const std::string proc = ProcFdPath(unnamed_fd_);
  if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, path_.c_str(),
               AT_SYMLINK_FOLLOW) == 0) {
    unnamed_fd_ = -1;  // named now
    return Status::OK();
  }
  if (errno != EEXIST) {
    return Status::FromErrno(path_, "link into place", errno);
  }
  // Replacing a file: a hidden name first, then rename over it, so that
  // the old file stays whole until the new one takes its place.
  const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  uint64_t x = static_cast<uint64_t>(::getpid()) * 0x9e3779b97f4a7c15ull ^
               static_cast<uint64_t>(
                   std::chrono::steady_clock::now().time_since_epoch().count());
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string name = TempTemplate(path_);
    for (int i = 0; i < 6; ++i) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      name += kChars[(x >> 33) % (sizeof(kChars) - 1)];
    }
    if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, name.c_str(),
                 AT_SYMLINK_FOLLOW) != 0) {
      if (errno == EEXIST) continue;
      return Status::FromErrno(path_, "link into place", errno);
    }
    temp_path_ = name;  // removed by the destructor if the rename fails
    unnamed_fd_ = -1;   // a second Commit() only retries the rename
    return Status::OK();
  }
  return Status::FromErrno(path_, "link into place", EEXIST);
}

Status OutputFile::Commit() {
  if (committed_) return Status::OK();
  if (kind_ == Kind::kStream) {
    committed_ = true;
    return Status::OK();
  }
  if (durable_) E2Q_RETURN_IF_ERROR(file_->Sync());
  if (kind_ == Kind::kBlockDevice) {
    committed_ = true;
    return Status::OK();
  }
  if (unnamed_fd_ >= 0) E2Q_RETURN_IF_ERROR(LinkIntoPlace());
  if (!temp_path_.empty() &&
      ::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    return Status::FromErrno(path_, "rename into place", errno);
  }
  committed_ = true;
  if (!durable_) return Status::OK();
  int dfd = ::open(DirName(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::OK();
}

}  // namespace e2q::io
