// Install (see install_run.h): the sequence of -I.
#include "snapshot/install_run.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <optional>
#include <vector>

#include "lib/base/endian.h"
#include "lib/base/is_zero.h"
#include "lib/image/base_guard.h"
#include "lib/image/provenance.h"
#include "lib/image/stamp.h"
#include "snapshot/undo_file.h"

namespace e2q::snapshot {

namespace {

constexpr uint64_t kChunkBytes = 8 << 20;
constexpr uint16_t kExt2Magic = 0xEF53;

struct ImageFacts {
  std::string name;
  uint64_t size = 0;       // guest bytes
  bool increment = false;  // has a backing file
  bool whole = false;      // install the whole guest content
  std::optional<image::Provenance> provenance;
  std::optional<image::BaseGuard> guard;
  std::array<uint8_t, 16> uuid{};
  uint32_t unit = 4096;  // block size of the undo file and the counts
};

std::string UtcTime(uint32_t t) {
  if (t == 0) return "never";
  time_t tt = t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

Result<ImageFacts> Describe(io::File* image, qcow2::Qcow2Reader* reader) {
  ImageFacts f;
  f.name = reader->name();
  f.size = reader->virtual_size();
  f.increment = !reader->header().backing_file.empty();
  E2Q_ASSIGN_OR_RETURN(f.provenance,
                       image::Provenance::Find(f.name, reader->header()));
  E2Q_ASSIGN_OR_RETURN(f.guard,
                       image::BaseGuard::Find(f.name, reader->header()));
  if (f.increment && !f.guard) {
    return Status::InvalidArgument(
        f.name +
        ": install: an image with a backing file but no base guard record; "
        "only increments written by e2qimage --backing (version 1.1 or "
        "later) can be installed");
  }
  if (f.size < 2048) {
    return Status::InvalidArgument(f.name +
                                   ": install: too small to hold a filesystem");
  }
  uint8_t sb[1024];
  E2Q_RETURN_IF_ERROR(image->ReadAt(1024, sb, sizeof sb));
  if (f.provenance && f.provenance->fs_uuid != std::array<uint8_t, 16>{}) {
    f.uuid = f.provenance->fs_uuid;
  } else if (LoadLE16(sb + 0x38) == kExt2Magic) {
    std::memcpy(f.uuid.data(), sb + 0x68, 16);
  } else {
    return Status::InvalidArgument(
        f.name +
        ": install: the image holds no ext2/ext3/ext4 superblock "
        "and records no filesystem");
  }
  uint32_t bs = f.provenance ? f.provenance->block_size : 0;
  if (bs == 0 && LoadLE16(sb + 0x38) == kExt2Magic) {
    bs = 1024u << std::min<uint32_t>(LoadLE32(sb + 0x18), 6);
  }
  if (bs == 0) bs = 4096;
  const uint32_t cs = 1u << reader->header().cluster_bits;
  f.unit = std::min(bs, cs);
  f.whole = !f.increment && f.provenance &&
            (f.provenance->flags & image::Provenance::kFlagAllData) != 0;
  return f;
}

// The blocks (of f.unit bytes) that the image covers: its stored clusters,
// or everything for a whole image.
Result<BlockSet> Candidates(const ImageFacts& f, qcow2::Qcow2Reader* reader) {
  BlockSet set;
  const uint64_t u = f.unit;
  const uint64_t blocks = f.size / u;
  if (f.whole) {
    if (blocks > 0) set.Add(0, blocks);
    return set;
  }
  uint64_t pos = 0;
  while (pos < f.size) {
    E2Q_ASSIGN_OR_RETURN(qcow2::Qcow2Reader::StoredExtent e,
                         reader->MapStored(pos, f.size - pos));
    if (e.len == 0) return Status::Corruption(f.name + ": map: empty extent");
    if (e.kind != qcow2::Qcow2Reader::StoredKind::kNotStored) {
      const uint64_t b0 = pos / u;
      const uint64_t b1 = std::min(blocks, (pos + e.len + u - 1) / u);
      if (b1 > b0) set.Add(b0, b1 - b0);
    }
    pos += e.len;
  }
  return set;
}

// The device's filesystem UUID, or nullopt when it holds no ext2/3/4
// superblock.
Result<std::optional<std::array<uint8_t, 16>>> DeviceUuid(io::File* device,
                                                          uint8_t* sb) {
  E2Q_RETURN_IF_ERROR(device->ReadAt(1024, sb, 1024));
  if (LoadLE16(sb + 0x38) != kExt2Magic) {
    return std::optional<std::array<uint8_t, 16>>();
  }
  std::array<uint8_t, 16> uuid;
  std::memcpy(uuid.data(), sb + 0x68, 16);
  return std::optional<std::array<uint8_t, 16>>(uuid);
}

Status CheckFilesystem(const ImageFacts& f, io::File* device) {
  uint8_t sb[1024];
  E2Q_ASSIGN_OR_RETURN(auto uuid, DeviceUuid(device, sb));
  const std::string what =
      device->name() + ": install of " + f.name + ": refusing: ";
  if (!uuid) {
    if (!f.increment) return Status::OK();  // a first full replica
    return Status::InvalidArgument(
        what + "the device holds no ext2/ext3/ext4 filesystem, and " + f.name +
        " is an increment (install the full image first)");
  }
  if (*uuid != f.uuid) {
    return Status::InvalidArgument(
        what + "the device holds another filesystem (UUID " +
        image::FormatUuid(*uuid) + ", the image's is " +
        image::FormatUuid(f.uuid) + ")" +
        (f.increment ? ""
                     : "; to replace it, wipe its superblock first "
                       "(wipefs -a)"));
  }
  return Status::OK();
}

// The base guard: the device must hold the state the increment was made
// against.  Reads the replaced clusters from the device.
Status CheckBase(const ImageFacts& f, qcow2::Qcow2Reader* reader,
                 io::File* device,
                 const std::function<void(uint64_t)>& progress) {
  const image::BaseGuard& g = *f.guard;
  const std::string what = device->name() +
                           ": install: device does not hold the base state "
                           "of " +
                           f.name + " (";
  uint8_t sb[1024];
  E2Q_RETURN_IF_ERROR(device->ReadAt(1024, sb, sizeof sb));
  image::BaseGuard now;
  image::SetGuardSuperblock(sb, &now);
  if (now.superblock != g.superblock) {
    std::string why = "superblock differs";
    if (now.mtime != g.mtime || now.mnt_count != g.mnt_count) {
      why += ": last mounted " + UtcTime(now.mtime) + " (mount count " +
             std::to_string(now.mnt_count) + "), the base " + UtcTime(g.mtime) +
             " (mount count " + std::to_string(g.mnt_count) + ")";
    } else if (now.wtime != g.wtime) {
      why += ": last written " + UtcTime(now.wtime) + ", the base " +
             UtcTime(g.wtime);
    } else if (now.free_blocks != g.free_blocks ||
               now.free_inodes != g.free_inodes) {
      why += ": " + std::to_string(now.free_blocks) + " free blocks and " +
             std::to_string(now.free_inodes) + " free inodes, the base " +
             std::to_string(g.free_blocks) + " and " +
             std::to_string(g.free_inodes);
    }
    return Status::InvalidArgument(
        what + why +
        "); the replica was changed since its last install, or an earlier "
        "increment of the chain is missing");
  }
  if (g.cluster_bits != reader->header().cluster_bits) {
    return Status::Corruption(f.name +
                              ": base guard record: cluster size differs "
                              "from the image's");
  }
  const uint64_t cs = uint64_t{1} << g.cluster_bits;
  E2Q_ASSIGN_OR_RETURN(uint64_t dev_size, device->Size());
  image::ReplacedDigest digest(g.cluster_bits);
  std::vector<uint8_t> buf;
  uint64_t pos = 0, done = 0;
  while (pos < f.size) {
    E2Q_ASSIGN_OR_RETURN(qcow2::Qcow2Reader::StoredExtent e,
                         reader->MapStored(pos, f.size - pos));
    if (e.len == 0) return Status::Corruption(f.name + ": map: empty extent");
    if (e.kind != qcow2::Qcow2Reader::StoredKind::kNotStored) {
      // Stored stretches start and end on cluster boundaries (the last
      // one may end at the guest size).
      for (uint64_t at = pos; at < pos + e.len;) {
        const uint64_t n = std::min<uint64_t>(kChunkBytes / cs,
                                              (pos + e.len - at + cs - 1) / cs);
        buf.assign(n * cs, 0);
        const uint64_t avail =
            at < dev_size ? std::min<uint64_t>(n * cs, dev_size - at) : 0;
        const uint64_t want =
            std::min<uint64_t>(avail, f.size > at ? f.size - at : 0);
        if (want > 0) E2Q_RETURN_IF_ERROR(device->ReadAt(at, buf.data(), want));
        for (uint64_t k = 0; k < n; ++k) {
          digest.Add(at / cs + k, buf.data() + k * cs);
        }
        at += n * cs;
        done += n;
        if (progress) progress(done);
      }
    }
    pos += e.len;
  }
  if (digest.clusters() != g.clusters || digest.Final() != g.replaced) {
    return Status::InvalidArgument(
        what + "the content of the " + std::to_string(g.clusters) +
        " clusters it replaces differs); the replica was written since its "
        "last install, or an earlier increment of the chain is missing");
  }
  return Status::OK();
}

// The blocks of `diff` whose content in `image` is all zeros.
Result<uint64_t> CountZero(io::File* image, const BlockSet& diff,
                           uint32_t unit) {
  uint64_t zero = 0;
  std::vector<uint8_t> buf(unit);
  for (const BlockRun& run : diff.Runs()) {
    for (uint64_t b = run.start; b < run.start + run.count; ++b) {
      E2Q_RETURN_IF_ERROR(image->ReadAt(b * unit, buf.data(), unit));
      if (IsZero(buf.data(), unit)) ++zero;
    }
  }
  return zero;
}

// The undo file must be one made by an install of this image: its blocks
// among the image's, its new content the image's.
Status CheckUndoBelongs(const ImageFacts& f, UndoFile* undo, io::File* image,
                        const BlockSet& candidates) {
  const UndoIdentity& id = undo->identity();
  const std::string refuse = undo->name() + ": refusing: this undo file ";
  if (id.snapshot_id != 0) {
    return Status::InvalidArgument(
        refuse + "belongs to a rollback to snapshot " +
        std::to_string(id.snapshot_id) + ", not to an install");
  }
  bool ours = id.block_size == f.unit && id.uuid == f.uuid;
  ContentSum sum;
  std::vector<uint8_t> buf;
  for (const BlockRun& run : undo->blocks().Runs()) {
    if (!ours) break;
    for (uint64_t b = run.start; b < run.start + run.count && ours; ++b) {
      if (!candidates.Contains(b)) ours = false;
    }
    const uint64_t per = kChunkBytes / f.unit;
    for (uint64_t b = run.start; ours && b < run.start + run.count;) {
      const uint64_t n = std::min(per, run.start + run.count - b);
      buf.resize(n * f.unit);
      E2Q_RETURN_IF_ERROR(image->ReadAt(b * f.unit, buf.data(), buf.size()));
      sum.Update(buf.data(), buf.size());
      b += n;
    }
  }
  if (!ours || sum.value() != id.target_sum) {
    return Status::InvalidArgument(
        refuse +
        "belongs to another install (of another image, or onto "
        "another device); use a new undo file for each image");
  }
  return Status::OK();
}

Result<uint64_t> PrepareUndo(const ImageFacts& f, io::File* image,
                             io::File* device, const BlockSet& diff,
                             const InstallRequest& req) {
  UndoIdentity ident;
  ident.uuid = f.uuid;
  ident.snapshot_id = 0;  // an install
  ident.block_size = f.unit;
  E2Q_ASSIGN_OR_RETURN(ident.device_size, device->Size());
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<DurableOutput> out, req.create_undo());
  image::Provenance record = image::NewProvenance(
      image::ImageKind::kUndo, ident.device_size, req.created);
  record.flags = 0;
  if (f.provenance) {
    record.fs_uuid = f.provenance->fs_uuid;
    record.label = f.provenance->label;
    record.block_size = f.provenance->block_size;
    record.blocks_count = f.provenance->blocks_count;
  } else {
    record.fs_uuid = f.uuid;
  }
  return Phase(
      req.progress, "Saving", diff.size(), f.unit, 2,
      [&](const std::function<void(uint64_t)>& update) -> Result<uint64_t> {
        E2Q_RETURN_IF_ERROR(WriteUndoFile(device, image, diff, &ident,
                                          out->file(), update, &record));
        // Rule 1 of rollback.h: durable and in place before the device is
        // touched.
        E2Q_RETURN_IF_ERROR(out->Commit());
        return diff.size();
      });
}

}  // namespace

Result<InstallOutcome> Install(io::File* image, qcow2::Qcow2Reader* reader,
                               io::File* device, const InstallRequest& req) {
  E2Q_ASSIGN_OR_RETURN(ImageFacts f, Describe(image, reader));
  InstallOutcome outcome;
  outcome.block_size = f.unit;
  E2Q_ASSIGN_OR_RETURN(uint64_t dev_size, device->Size());
  if (dev_size < f.size) {
    return Status::InvalidArgument(
        device->name() + ": install of " + f.name + ": refusing: the device (" +
        std::to_string(dev_size) + " bytes) is smaller than the image (" +
        std::to_string(f.size) + " bytes)");
  }
  E2Q_ASSIGN_OR_RETURN(BlockSet candidates, Candidates(f, reader));
  outcome.candidates = candidates.size();
  if (!req.undo_exists) {
    E2Q_RETURN_IF_ERROR(CheckFilesystem(f, device));
    E2Q_ASSIGN_OR_RETURN(
        BlockSet diff,
        Phase(req.progress, "Comparing", candidates.size(), f.unit, 1,
              [&](const std::function<void(uint64_t)>& update) {
                return DiffBlocks(device, image, candidates, f.unit, update);
              }));
    outcome.to_write = diff.size();
    if (diff.empty()) {
      outcome.already_applied = true;
      return outcome;
    }
    if (f.guard) {
      E2Q_RETURN_IF_ERROR(
          Phase(req.progress, "Checking base", f.guard->clusters,
                uint64_t{1} << f.guard->cluster_bits, 1,
                [&](const std::function<void(uint64_t)>& update) {
                  return CheckBase(f, reader, device, update);
                }));
    }
    if (req.dry_run) {
      E2Q_ASSIGN_OR_RETURN(outcome.to_zero, CountZero(image, diff, f.unit));
      outcome.only_counted = true;
      return outcome;
    }
    E2Q_RETURN_IF_ERROR(PrepareUndo(f, image, device, diff, req).status());
  }
  // From here on only the undo file counts, also on a rerun.
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> file, req.open_undo());
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<UndoFile> undo,
                       UndoFile::Open(std::move(file)));
  E2Q_RETURN_IF_ERROR(CheckUndoBelongs(f, undo.get(), image, candidates));
  E2Q_ASSIGN_OR_RETURN(
      outcome.applied,
      Phase(req.progress, req.dry_run ? "Comparing" : "Installing",
            undo->blocks().size(), f.unit, req.dry_run ? 1 : 2,
            [&](const std::function<void(uint64_t)>& update) {
              ApplyOptions ao;
              ao.dry_run = req.dry_run;
              ao.progress = update;
              return ApplyUndo(undo.get(), device, Direction::kRollback, ao);
            }));
  outcome.to_write = outcome.applied.written;
  outcome.already_applied = outcome.applied.written == 0;
  return outcome;
}

}  // namespace e2q::snapshot
