// Qcow2GuestFile: a read-only File whose bytes are the guest content of a
// qcow2 image (its active layer, or the internal snapshot selected in the
// reader, through its backing chain), so that a VM's disk can be read like
// a raw disk image: its partition table parsed, a filesystem in it opened
// and copied.
#ifndef E2Q_LIB_QCOW2_QCOW2_GUEST_FILE_H_
#define E2Q_LIB_QCOW2_QCOW2_GUEST_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "lib/base/status.h"
#include "lib/io/file.h"
#include "lib/qcow2/qcow2_reader.h"

namespace e2q::qcow2 {

class Qcow2GuestFile : public io::ReadOnlyFile {
 public:
  // Takes ownership of `reader`; the name is the image's.  The size is
  // the reader's virtual size.  Reads are thread-safe: they take turns on
  // the reader, which is not.
  explicit Qcow2GuestFile(std::unique_ptr<Qcow2Reader> reader);

  Qcow2Reader* reader() const { return reader_.get(); }

  Result<size_t> ReadSome(uint64_t offset, void* buf, size_t len) override;
  Result<uint64_t> Size() override { return reader_->virtual_size(); }
  // Zero and unallocated clusters (through the backing chain) are holes,
  // stored ones data (Qcow2Reader::Map); where the tables cannot be read,
  // data, so that the read reports the error.
  Stretch StretchAt(uint64_t offset) override;

 private:
  std::unique_ptr<Qcow2Reader> reader_;
  std::mutex mu_;
};

}  // namespace e2q::qcow2

#endif  // E2Q_LIB_QCOW2_QCOW2_GUEST_FILE_H_
