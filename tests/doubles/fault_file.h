// FaultFile: a File wrapper that injects the failures real storage
// produces, for reliability tests (leveldb's fault-injecting Env is the
// model): short reads, read and write errors (EIO, ENOSPC, EFBIG, any
// errno), short writes that stop part-way with an error (after a fixed
// number of bytes, or half of the write: a torn write), and a crash at
// the Nth write after which nothing more reaches the wrapped file, so that
// the file is left exactly as a power cut at that point would leave it.
//
// Faults are keyed by call number per operation, counted from 0 over the
// life of the wrapper, so a test can first count the calls of a clean run
// and then fail each one in turn.  Thread-safe: the export reads a device
// from several threads.
#ifndef E2Q_TESTS_DOUBLES_FAULT_FILE_H_
#define E2Q_TESTS_DOUBLES_FAULT_FILE_H_

#include <cerrno>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "lib/io/file.h"
#include "lib/io/forwarding_file.h"

namespace e2q {

class FaultFile : public io::ForwardingFile {
 public:
  enum class Op { kRead, kWrite, kSync, kTruncate };

  struct Fault {
    Op op = Op::kWrite;
    uint64_t nth = 0;  // the call of `op` that fails (0 = the first)
    int err = EIO;     // the errno it fails with
    // Every later call of `op` fails too (a dead disk, a full one); else
    // only call `nth` does (a transient error).
    bool sticky = true;
    // For writes: bytes of the failing call that reach the file before
    // the error (a short write, as when a disk fills up mid-write).
    size_t partial = 0;
    // For writes, instead of `partial`: the first half of the failing
    // call's bytes (len / 2) reach the file before the error -- a torn
    // write, as a process killed in the middle of a large write leaves.
    bool torn = false;
  };

  // Wraps `base`, which must outlive this object.
  explicit FaultFile(io::File* base);
  // Wraps `base` and owns it.
  explicit FaultFile(std::unique_ptr<io::File> base);

  void AddFault(const Fault& fault);
  // Every ReadSome returns at most `max` bytes (0: no limit).  Not an
  // error: callers must loop, and their results must not change.
  void set_max_read(size_t max);
  // Write call `n` and every write, sync and truncate after it fail with
  // EIO and do not reach the wrapped file.  `on_crash`, if set, runs once
  // when the crash happens (the CLI's fault build kills itself there).
  void CrashAtWrite(uint64_t n, std::function<void()> on_crash = nullptr);

  // Calls made so far, failed ones included.
  uint64_t reads() const;
  uint64_t writes() const;
  uint64_t syncs() const;
  uint64_t truncates() const;
  bool crashed() const;

  Result<size_t> ReadSome(uint64_t offset, void* buf, size_t len) override;
  Status WriteAt(uint64_t offset, const void* buf, size_t len) override;
  Status Sync() override;
  Status Truncate(uint64_t size) override;
  // Zeroing is written as zeros through WriteAt, so that it counts, fails
  // and crashes as the writes it stands for.
  Status ZeroRange(uint64_t offset, uint64_t len) override {
    return io::File::ZeroRange(offset, len);
  }
  // Size and WritesDirect are forwarded: a writer takes the same path
  // (direct writes or buffered) as without the fault layer.

 private:
  // The fault that call `n` of `op` triggers, or null.
  const Fault* Find(Op op, uint64_t n) const;
  Status Fail(const std::string& op, uint64_t offset, int err) const;

  std::unique_ptr<io::File> owned_;  // null when the base is not owned
  mutable std::mutex mu_;
  std::vector<Fault> faults_;
  size_t max_read_ = 0;
  uint64_t counts_[4] = {0, 0, 0, 0};
  uint64_t crash_at_ = UINT64_MAX;
  bool crashed_ = false;
  std::function<void()> on_crash_;
};

}  // namespace e2q

#endif  // E2Q_TESTS_DOUBLES_FAULT_FILE_H_
