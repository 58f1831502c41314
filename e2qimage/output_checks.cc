// CheckOutputs / CheckRawRoom: which names a mode reads and writes, and the
// refusals that follow from what they are.
#include "e2qimage/output_checks.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "lib/base/endian.h"
#include "lib/image/backing_base.h"
#include "lib/io/same_file.h"

namespace e2q::cli {

namespace {

constexpr uint32_t kQcow2Magic = 0x514649fb;  // "QFI\xfb"
constexpr uint32_t kMaxBackingName = 1023;    // qemu's limit
constexpr int kMaxChain = 32;

// One input of the run: its path and what it is, for messages.
struct Input {
  std::string path;
  std::string role;  // "the source", "the --backing base", ...
};

// The backing file that the qcow2 image at `path` names, resolved as qemu
// resolves it; nullopt when `path` is not a qcow2 image or has none.  Read
// with plain system calls: a malformed image is the mode's to report.
std::optional<std::string> BackingOf(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  uint8_t head[20];
  std::optional<std::string> name;
  if (::pread(fd, head, sizeof(head), 0) == sizeof(head) &&
      LoadBE32(head) == kQcow2Magic) {
    const uint64_t offset = LoadBE64(head + 8);
    const uint32_t size = LoadBE32(head + 16);
    // The size is checked before it allocates: the header may lie.
    std::string buf(std::min(size, kMaxBackingName), '\0');
    if (offset != 0 && size > 0 && size <= kMaxBackingName &&
        ::pread(fd, buf.data(), size, static_cast<off_t>(offset)) ==
            static_cast<ssize_t>(size)) {
      name = image::BackingPath(path, buf);
    }
  }
  ::close(fd);
  return name;
}

// `path` as `role`, and the backing chain below it when it is qcow2.
void AddWithChain(const std::string& path, const std::string& role,
                  std::vector<Input>* inputs) {
  inputs->push_back({path, role});
  std::string at = path;
  for (int depth = 0; depth < kMaxChain; ++depth) {
    std::optional<std::string> next = BackingOf(at);
    if (!next) return;
    inputs->push_back({*next, "a backing file of " + path});
    at = *next;
  }
}

const char* StreamKind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a pipe";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISSOCK(mode)) return "a socket";
  return nullptr;
}

// True when `path` is, or leads through symlinks to, a descriptor name
// (/dev/fd/N, /proc/PID/fd/N): for a regular file behind one, the
// output's rename would replace that name, not fill the file.
bool NamesDescriptor(std::string path) {
  for (int hops = 0; hops < 16; ++hops) {
    if (path.rfind("/dev/fd/", 0) == 0) return true;
    if (path.rfind("/proc/", 0) == 0 &&
        path.find("/fd/") != std::string::npos) {
      return true;
    }
    char buf[4096];
    const ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf) - 1);
    if (n <= 0) return false;
    std::string target(buf, static_cast<size_t>(n));
    path = image::BackingPath(path, target);  // relative to the link's folder
  }
  return false;
}

Result<std::optional<io::Storage>> Identify(const std::string& path) {
  if (path == "-") {
    E2Q_ASSIGN_OR_RETURN(io::Storage s,
                         io::IdentifyFd(STDOUT_FILENO, "standard output"));
    return std::optional<io::Storage>(std::move(s));
  }
  return io::IdentifyPath(path);
}

// Refuses `output` (written as `what`) when it shares storage with any of
// `inputs`.
Status CheckDistinct(const std::string& output, const std::string& what,
                     const std::vector<Input>& inputs) {
  E2Q_ASSIGN_OR_RETURN(std::optional<io::Storage> out, Identify(output));
  if (!out) return Status::OK();  // a new file is nobody's input
  for (const Input& in : inputs) {
    auto id = io::IdentifyPath(in.path);
    if (!id.ok() || !id.value()) continue;  // the mode reports it
    if (std::optional<std::string> how = io::SharedStorage(*out, *id.value())) {
      return Status::InvalidArgument(output + ": refusing to write " + what +
                                     ": it is " + *how + " (" + in.role +
                                     "), which would be destroyed");
    }
  }
  return Status::OK();
}

Status CheckExport(const Options& o) {
  const std::string& source = o.args[0];
  const std::string& image = o.args[1];
  std::vector<Input> inputs;
  AddWithChain(source, "the source", &inputs);
  if (!o.backing.empty()) {
    AddWithChain(image::BackingPath(image, o.backing), "the --backing base",
                 &inputs);
  }
  E2Q_RETURN_IF_ERROR(CheckDistinct(image, "the image", inputs));
  struct stat st;
  if (image == "-" || ::stat(image.c_str(), &st) != 0) return Status::OK();
  if (S_ISREG(st.st_mode) && NamesDescriptor(image)) {
    return Status::InvalidArgument(
        image +
        ": refusing to write the image: it names an open descriptor "
        "of a regular file, which the image would replace (name the "
        "file itself, or use '-' for standard output)");
  }
  if (o.format != OutputFormat::kQcow2) return Status::OK();
  if (const char* kind = StreamKind(st.st_mode)) {
    return Status::InvalidArgument(
        image + ": refusing to write a qcow2 image to " + kind +
        ": qcow2 is written out of order and needs a regular file or a "
        "block device (-r writes a raw image to a stream)");
  }
  return Status::OK();
}

// -R ID DEVICE UNDO-FILE and -U UNDO-FILE DEVICE: both are written.
Status CheckRollback(const std::string& device, const std::string& undo) {
  E2Q_RETURN_IF_ERROR(
      CheckDistinct(undo, "the undo file", {{device, "the device"}}));
  struct stat st;
  if (::stat(undo.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    return Status::InvalidArgument(undo +
                                   ": the undo file must be a regular file");
  }
  return Status::OK();
}

}  // namespace

Status CheckOutputs(const Options& o) {
  switch (o.mode) {
    case Mode::kExport:
      return CheckExport(o);
    case Mode::kRollback:
      return CheckRollback(o.args[0], o.args[1]);
    case Mode::kUndo:
      return CheckRollback(o.args[1], o.args[0]);
    case Mode::kInstall:
      // -I IMAGE DEVICE UNDO-FILE: the device and the undo file are
      // written, the image read.
      E2Q_RETURN_IF_ERROR(
          CheckDistinct(o.args[1], "the device", {{o.args[0], "the image"}}));
      E2Q_RETURN_IF_ERROR(CheckDistinct(o.args[2], "the undo file",
                                        {{o.args[0], "the image"}}));
      return CheckRollback(o.args[1], o.args[2]);
    default:
      return Status::OK();
  }
}

Status CheckRawRoom(const std::string& path, uint64_t bytes) {
  struct stat st;
  if (path == "-" || ::stat(path.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) {
    return Status::OK();
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(path, "open", errno);
  uint64_t size = 0;
  const int rc = ::ioctl(fd, BLKGETSIZE64, &size);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Status::FromErrno(path, "get device size", err);
  if (size < bytes) {
    return Status::InvalidArgument(
        path + ": refusing to write the image: the device holds " +
        std::to_string(size) + " bytes, the raw image needs " +
        std::to_string(bytes));
  }
  return Status::OK();
}

}  // namespace e2q::cli
