// OutputFile: an image file that appears under its final name only when it
// is complete.
//
// Regular-file outputs are written to an unnamed file (O_TMPFILE) in the
// target's directory and linked into place by Commit() (through a hidden
// name and a rename when a file is replaced); a failed or interrupted run
// therefore never leaves a file at the target name, and a run killed by
// SIGKILL leaves nothing at all.  Where the file system has no O_TMPFILE,
// the file has a hidden temporary name (.NAME.e2q-XXXXXX) from the start,
// and a destroyed, uncommitted OutputFile removes it.  Standard
// output ("-"), character devices, pipes and block devices are written in
// place: for them there is no
// temporary name, and a pipe only accepts writes at increasing offsets (gaps
// are filled with zeros).
#ifndef E2Q_LIB_IO_OUTPUT_FILE_H_
#define E2Q_LIB_IO_OUTPUT_FILE_H_

#include <memory>
#include <string>

#include "lib/base/status.h"
#include "lib/io/file.h"

namespace e2q::io {

class OutputFile {
 public:
  enum class Kind { kRegular, kBlockDevice, kStream };

  // Creates the output for `path` ("-" = standard output).  Refuses an
  // existing directory.  The returned object owns the temporary file.
  // With `durable` false a regular file is written through the page cache
  // (with O_DIRECT when `expected_bytes` reaches BufferedWriteLimit()) and
  // Commit() renames it without waiting for the disk (what cp does): an
  // interrupted run still leaves no file, but a system crash may leave the
  // final name on an incomplete file.  With `durable` true,
  // `expected_bytes` (0: unknown) chooses how it is written: below
  // kDirectWriteThreshold through the page cache with early writeback,
  // otherwise (and when unknown) with O_DIRECT; Commit() fsyncs.
  static Result<std::unique_ptr<OutputFile>> Create(
      const std::string& path, uint64_t expected_bytes = 0,
      bool durable = true);
  static constexpr uint64_t kDirectWriteThreshold = 1ull << 30;
  // Output bytes beyond which a non-durable output is written with
  // O_DIRECT: the dirty memory at which the kernel throttles a writer to
  // the disk's pace (vm.dirty_bytes or dirty_ratio of the available
  // memory), at least kDirectWriteThreshold.
  static uint64_t BufferedWriteLimit();
  ~OutputFile();

  File* file() { return file_.get(); }
  Kind kind() const { return kind_; }
  // True when holes are free (regular files): zero runs may be skipped.
  bool sparse() const { return kind_ == Kind::kRegular; }
  // The temporary path ("" for unnamed files, streams and devices); the
  // CLI's signal handler unlinks it when the run is interrupted.
  const std::string& temp_path() const { return temp_path_; }

  // fsyncs the data, links or renames the temporary file to its final name
  // and fsyncs the directory (no fsync when not durable).
  Status Commit();

 private:
  OutputFile() = default;
  Kind kind_ = Kind::kRegular;
  std::string path_;
  std::string temp_path_;
  std::unique_ptr<File> file_;
  Status LinkIntoPlace();

  int owned_fd_ = -1;  // descriptor behind a StreamFile, if we opened it
  int replaced_fd_ = -1;  // the file being replaced, write-locked
  int unnamed_fd_ = -1;  // the O_TMPFILE file's descriptor (PosixFile owns it)
  bool committed_ = false;
  bool durable_ = true;
};

}  // namespace e2q::io

#endif  // E2Q_LIB_IO_OUTPUT_FILE_H_
