// lib/io: the File interface and its implementations -- POSIX files and
// devices, durable replaced outputs, patched and forwarding views, the
// write-behind thread and aligned buffers.  Namespace e2q::io; includes
// only lib/base (scripts/check-layers.sh holds every folder to its rule).
//
// File: the one I/O interface of the library.
//
// Every byte e2qimage reads or writes goes through a File, so that tests can
// substitute an in-memory file (MemFile) or a fault-injecting wrapper
// (FaultFile) for the POSIX one, as leveldb's Env and e2fsprogs' io_manager
// do.  Offsets are absolute; implementations loop over short transfers, so a
// caller sees either the whole transfer or an error.  Wrappers that change
// only a few calls derive from ForwardingFile (lib/io/forwarding_file.h).
#ifndef E2Q_LIB_IO_FILE_H_
#define E2Q_LIB_IO_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/status.h"

namespace e2q::io {

class File {
 public:
  explicit File(std::string name) : name_(std::move(name)) {}
  virtual ~File() = default;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  // The name used in error messages (usually the path).
  const std::string& name() const { return name_; }

  // Reads up to `len` bytes at `offset`; returns how many were read, which is
  // less than `len` only at end of file.
  virtual Result<size_t> ReadSome(uint64_t offset, void* buf, size_t len) = 0;
  // Writes all of `len` bytes at `offset`.
  virtual Status WriteAt(uint64_t offset, const void* buf, size_t len) = 0;
  virtual Status Sync() = 0;
  virtual Result<uint64_t> Size() = 0;
  // Sets the file's length (a hole when growing a regular file).
  virtual Status Truncate(uint64_t size) = 0;
  // True when large aligned writes bypass the page cache (O_DIRECT): then
  // copying them into a buffer first only costs time.
  virtual bool WritesDirect() const { return false; }
  // Makes bytes [offset, offset + len) read as zeros.  Files that can do it
  // without writing them (a hole punched in a regular file, BLKZEROOUT on
  // a block device) override it; this one writes zeros through WriteAt.
  virtual Status ZeroRange(uint64_t offset, uint64_t len);
  // A hint that bytes [offset, offset + len) will be read soon.  A POSIX
  // file starts reading them in the background on a pool of threads
  // (ReadAhead), so that scattered reads reach a cold disk many at a time
  // instead of one after the other; the default does nothing.  Never fails.
  virtual void Prefetch(uint64_t offset, uint64_t len) {}
  // How many reads so far found their data outside the page cache and
  // waited for the device, or -1 where the file cannot tell (then readers
  // judge by how long reads take: io::SlowReads).  A POSIX file asks the
  // kernel (RWF_NOWAIT); the default cannot tell.  Thread-safe.
  virtual int64_t ReadWaits() const { return -1; }
  // A stretch of the file: a hole (bytes that read as zeros and hold
  // nothing) or bytes that may hold data, ending before `end`.
  struct Stretch {
    bool hole = false;
    uint64_t end = UINT64_MAX;
  };
  // The stretch that holds byte `offset`.  A sparse regular file asks the
  // kernel (its extent map, else lseek SEEK_HOLE), a qcow2 disk its tables,
  // so that a reader can leave out what it would only copy out of the page
  // cache as zeros (the preallocated journal and inode tables of a
  // filesystem in an image file); the default knows of no hole: all data.
  // Never fails (where the kernel cannot tell, all data); thread-safe.
  virtual Stretch StretchAt(uint64_t offset) { return {}; }
  // A hint that bytes [offset, offset + len) will be written soon, past
  // what is written so far.  A regular file allocates them now (fallocate,
  // keeping its length), so that the writes fill blocks already there
  // instead of reserving each one as they go: ext4's delayed allocation
  // made a 117 MB write cost 19 ms of system time, 11 ms with the blocks
  // allocated first.  Truncate() releases what ends up past the end.
  // False where nothing was allocated (not a regular file, not supported,
  // no room): the writes then allocate as usual, and asking again is
  // pointless.  The default allocates nothing.
  virtual bool Reserve(uint64_t offset, uint64_t len) { return false; }
  // A new virtual here must also be forwarded by ForwardingFile
  // (lib/io/forwarding_file.h) and checked in its test.

  // Reads exactly `len` bytes; reaching end of file first is kCorruption
  // ("NAME: read at offset N: unexpected end of file").
  Status ReadAt(uint64_t offset, void* buf, size_t len);

 private:
  std::string name_;
};

// Opens `path` read-only (a regular file or a block device).
// A File that is only read (a view of another File, of a qcow2 image's
// guest content): writes and truncation fail with kNotSupported ("NAME:
// write: the WHAT is read-only"), Sync has nothing to do.
class ReadOnlyFile : public File {
 public:
  explicit ReadOnlyFile(std::string name, const char* what = "file")
      : File(std::move(name)), what_(what) {}
  Status WriteAt(uint64_t offset, const void* buf, size_t len) override;
  Status Truncate(uint64_t size) override;
  Status Sync() override { return Status::OK(); }

 private:
  const char* what_;
};

Result<std::unique_ptr<File>> OpenFileForRead(const std::string& path);
// Opens `path` read-write without creating or truncating it (devices, undo
// files).  With `exclusive`, a block device is opened O_EXCL.
Result<std::unique_ptr<File>> OpenFileForUpdate(const std::string& path,
                                                bool exclusive);

// Test seam (fault injection).  When an interposer is set, every File that
// OpenFileForRead, OpenFileForUpdate and OutputFile::Create open is passed
// through it, and what it returns is used instead (a FaultFile wrapping the
// original, say).  Set it once, before any file is opened; null restores
// the default.  Only the CLI's fault-injection test build sets it.
// kUpdate: opened by OpenFileForUpdate (a device written in place, an undo
// file); kOutput: a new output (OutputFile).
enum class FileRole { kInput, kOutput, kUpdate };
using FileInterposer =
    std::unique_ptr<File> (*)(std::unique_ptr<File> file, FileRole role);
void SetFileInterposer(FileInterposer interposer);
// `file` itself, or what the interposer makes of it.
std::unique_ptr<File> Interpose(std::unique_ptr<File> file, FileRole role);

// A File over a growable byte vector, for unit tests.
class MemFile : public File {
 public:
  explicit MemFile(std::string name = "mem") : File(std::move(name)) {}
  MemFile(std::string name, std::vector<uint8_t> data)
      : File(std::move(name)), data_(std::move(data)) {}
  Result<size_t> ReadSome(uint64_t offset, void* buf, size_t len) override;
  Status WriteAt(uint64_t offset, const void* buf, size_t len) override;
  Status Sync() override { return Status::OK(); }
  Result<uint64_t> Size() override { return uint64_t{data_.size()}; }
  Status Truncate(uint64_t size) override;
  std::vector<uint8_t>& data() { return data_; }

 private:
  std::vector<uint8_t> data_;
};

}  // namespace e2q::io

#endif  // E2Q_LIB_IO_FILE_H_
