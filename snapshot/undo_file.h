// The undo file of an offline rollback (-R, -U; doc/e2qimage.8 OFFLINE
// ROLLBACK): a qcow2 image the size of the device whose active layer holds the
// original content of every block the rollback writes, and whose internal
// snapshot "rollback-ID" holds the new content of the same blocks.  A block
// equal to another, in either content, is stored once; when two original
// blocks are alike, a second snapshot, "original", holds the original
// content again, so that qemu may still write to the file.  Each layer maps
// exactly those blocks (an all-zero block as a zero cluster), so the set of
// blocks is the set of mapped clusters; cluster size = block size.  A header
// extension of e2qimage's own type records the identity of the rollback
// (filesystem UUID, snapshot ID, device size, block size, number of blocks,
// checksums of both contents) and an advisory state.
#ifndef E2Q_SNAPSHOT_UNDO_FILE_H_
#define E2Q_SNAPSHOT_UNDO_FILE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "lib/base/block_set.h"
#include "lib/base/status.h"
#include "lib/image/provenance.h"
#include "lib/io/file.h"
#include "lib/qcow2/qcow2_reader.h"

namespace e2q::snapshot {

// Header extension type of the undo record ("e2q undo").
constexpr uint32_t kExtE2qUndo = 0xe2e2a9e1;

enum class UndoState : uint32_t {
  kPrepared = 1,    // undo file complete; the device may be partly written
  kRolledBack = 2,  // the rollback completed
  kUndone = 3,      // -U completed
};

struct UndoIdentity {
  std::array<uint8_t, 16> uuid{};  // filesystem UUID (s_uuid)
  uint32_t snapshot_id = 0;
  uint32_t block_size = 0;
  uint64_t device_size = 0;  // bytes
  uint64_t blocks = 0;       // blocks the rollback writes
  // Checksums (CRC-32 and Adler-32 side by side) of the original and the
  // target content of those blocks in block order: catch a damaged undo
  // file before anything is written with it.
  uint64_t original_sum = 0;
  uint64_t target_sum = 0;
  UndoState state = UndoState::kPrepared;
};

// Streaming checksum over block contents (see UndoIdentity).
class ContentSum {
 public:
  void Update(const uint8_t* data, size_t len);
  uint64_t value() const { return (uint64_t{crc_} << 32) | adler_; }

 private:
  uint32_t crc_ = 0;
  uint32_t adler_ = 1;
};

// The snapshot name of the new content: "rollback-ID", or "install" for
// ID 0, an install (-I; snapshot/install_run.h).
std::string RollbackSnapshotName(uint32_t snapshot_id);

// The snapshot name of the original content (the active layer's copy),
// present when original blocks are shared among themselves.
inline constexpr char kOriginalSnapshotName[] = "original";

// Writes the undo image for `blocks` (sorted, < device_size / block_size)
// to `out` (from offset 0): original content read from `device`, new
// content from `target`, in runs of up to 8 MiB.  Fills id->blocks and the
// checksums.  With `provenance` (optional; kind, identity, version and time
// filled in by the caller), also stores that record with guest_size and the
// digest of the active layer (the original content) filled in.  Does not
// fsync.  `progress` (optional) gets blocks done.
Status WriteUndoFile(io::File* device, io::File* target, const BlockSet& blocks,
                     UndoIdentity* id, io::File* out,
                     const std::function<void(uint64_t)>& progress,
                     const image::Provenance* provenance = nullptr);

// An undo file opened for reading.
class UndoFile {
 public:
  // Validates the record, both layers and that they map the same blocks.
  // Owns `file`.  Errors are kCorruption / kInvalidArgument naming it.
  static Result<std::unique_ptr<UndoFile>> Open(std::unique_ptr<io::File> file);

  const UndoIdentity& identity() const { return id_; }
  const BlockSet& blocks() const { return blocks_; }
  const std::string& name() const { return name_; }
  // Reads `count` blocks from `first` of the original (target = false) or
  // the new (target = true) content.
  Status Read(bool target, uint64_t first, uint64_t count, uint8_t* buf);
  // Rewrites the advisory state in the record and fsyncs the file.
  Status SetState(UndoState state);

 private:
  UndoFile() = default;
  std::string name_;
  io::File* file_ = nullptr;  // owned by original_
  std::unique_ptr<qcow2::Qcow2Reader> original_;
  std::unique_ptr<qcow2::Qcow2Reader> target_;
  UndoIdentity id_;
  uint64_t record_offset_ = 0;  // of the record's data in cluster 0
  BlockSet blocks_;
};

}  // namespace e2q::snapshot

#endif  // E2Q_SNAPSHOT_UNDO_FILE_H_
