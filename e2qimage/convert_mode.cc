// Convert mode: a qcow2 source (snapshot, backing chain) opened and checked,
// the output's sink built, and the guest content copied
// (image::CopyGuestContent).
#include "e2qimage/convert_mode.h"

#include <memory>
#include <optional>

#include "e2qimage/creation_time.h"
#include "e2qimage/export_mode.h"
#include "e2qimage/output_checks.h"
#include "e2qimage/progress.h"
#include "e2qimage/signals.h"
#include "e2qimage/source_device.h"
#include "lib/image/guest_copy.h"
#include "lib/image/image_sink.h"
#include "lib/image/provenance.h"
#include "lib/image/stamp.h"
#include "lib/io/output_file.h"
#include "lib/qcow2/cluster_compressor.h"
#include "lib/qcow2/qcow2_reader.h"
#include "lib/qcow2/qcow2_writer.h"

namespace e2q::cli {

namespace {

constexpr uint64_t kProgressUnit = 1u << 20;

// Options that only make sense for a filesystem source.
Status CheckApplicable(const Options& o) {
  const std::string& src = o.args[0];
  auto refuse = [&](const char* opt) {
    return Status::InvalidArgument(src + ": " + opt +
                                   ": not applicable to a qcow2 source image");
  };
  if (o.scramble) return refuse("-s");
  if (o.superblock != 0 || o.blocksize != 0) return refuse("-b/-B");
  if (o.export_snapshot) return refuse("-x");
  if (o.export_all_snapshots) return refuse("-X");
  if (!o.backing.empty()) return refuse("--backing");
  return Status::OK();
}

// The record of a re-packed image: kind "converted"; the source's
// filesystem identity and content flags when it has a record of its own
// (a qemu-made source leaves them unknown).  Its snapshot IDs carry over
// only when its active layer is converted, not an internal snapshot.
Result<image::Provenance> ConvertedProvenance(const qcow2::Qcow2Reader& reader,
                                              const Options& o) {
  E2Q_ASSIGN_OR_RETURN(
      image::Provenance p,
      NewProvenance(image::ImageKind::kConverted, reader.virtual_size()));
  E2Q_ASSIGN_OR_RETURN(std::optional<image::Provenance> src,
                       image::Provenance::Find(reader.name(), reader.header()));
  if (src) {
    p.fs_uuid = src->fs_uuid;
    p.label = src->label;
    p.block_size = src->block_size;
    p.blocks_count = src->blocks_count;
    p.flags = src->flags & (image::Provenance::kFlagAllData |
                            image::Provenance::kFlagScrambled);
    if (o.snapshot.empty()) {
      p.flags |= src->flags & image::Provenance::kFlagLive;
      p.snapshot_ids = src->snapshot_ids;
    }
  }
  return p;
}

}  // namespace

Result<size_t> ResolveSnapshot(const std::vector<qcow2::SnapshotEntry>& snaps,
                               const std::string& spec,
                               const std::string& image) {
  const std::string kPrefix = "snapshot.";
  auto not_found = [&]() -> Result<size_t> {
    return Status::NotFound(image + ": snapshot '" + spec +
                            "': no such snapshot");
  };
  if (spec.compare(0, kPrefix.size(), kPrefix) != 0) {
    int i = qcow2::FindSnapshot(snaps, spec);
    if (i < 0) return not_found();
    return static_cast<size_t>(i);
  }
  std::optional<std::string> id, name;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string::npos) comma = spec.size();
    std::string item = spec.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.compare(0, 12, "snapshot.id=") == 0) {
      id = item.substr(12);
    } else if (item.compare(0, 14, "snapshot.name=") == 0) {
      name = item.substr(14);
    } else {
      return Status::InvalidArgument(image + ": -l '" + spec +
                                     "': expected snapshot.id=ID and/or "
                                     "snapshot.name=NAME");
    }
  }
  for (size_t i = 0; i < snaps.size(); ++i) {
    if ((!id || snaps[i].id_str == *id) && (!name || snaps[i].name == *name)) {
      return i;
    }
  }
  return not_found();
}

Status RunConvert(const Options& o) {
  const std::string& src = o.args[0];
  const std::string& dst = o.args[1];
  E2Q_RETURN_IF_ERROR(CheckApplicable(o));
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> file,
                       io::OpenFileForRead(src));
  file = Paced(o, std::move(file));
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<qcow2::Qcow2Reader> reader,
                       qcow2::Qcow2Reader::Open(std::move(file)));
  if (!o.snapshot.empty()) {
    E2Q_ASSIGN_OR_RETURN(size_t index,
                         ResolveSnapshot(reader->snapshots(), o.snapshot, src));
    E2Q_RETURN_IF_ERROR(reader->SelectSnapshotAt(index));
  }
  const uint64_t size = reader->virtual_size();

  // Check the output parameters before creating anything.
  qcow2::WriterOptions wo;
  image::Provenance record;
  if (o.format == OutputFormat::kQcow2) {
    E2Q_ASSIGN_OR_RETURN(record, ConvertedProvenance(*reader, o));
    image::ReserveProvenance(record, &wo);
    wo.version = o.qcow2_version;
    auto bits =
        image::ClusterBitsFor(size, qcow2::kDefaultClusterBits, o.cluster_size);
    if (!bits.ok()) return bits.status().WithContext(dst + ": create");
    wo.cluster_bits = bits.value();
    wo.virtual_size = size;
    wo.share_identical = o.share;
    wo.snapshot_date_sec = static_cast<uint32_t>(record.created);
  }

  if (o.format == OutputFormat::kRaw)
    E2Q_RETURN_IF_ERROR(CheckRawRoom(dst, size));
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::OutputFile> out,
                       io::OutputFile::Create(dst, 0, o.sync));
  // On every return the signal handler forgets the temporary file; on an
  // error the OutputFile destructor (after this guard's) removes it.
  struct TempFileGuard {
    explicit TempFileGuard(const std::string& path) { RegisterTempFile(path); }
    ~TempFileGuard() { UnregisterTempFile(); }
  } temp_guard(out->temp_path());
  std::unique_ptr<qcow2::Qcow2Writer> writer;
  std::unique_ptr<qcow2::ClusterCompressor> compressor;
  std::unique_ptr<image::ImageSink> qcow2_sink;
  std::unique_ptr<image::ImageSink> sink;
  if (o.format == OutputFormat::kQcow2) {
    E2Q_ASSIGN_OR_RETURN(writer, qcow2::Qcow2Writer::Create(out->file(), wo));
    qcow2::Qcow2Writer* w = writer.get();
    E2Q_ASSIGN_OR_RETURN(
        compressor, image::NewCompressor(
                        CompressOptionsOf(o), wo.cluster_bits,
                        [w](uint8_t t) { return w->SetCompressionType(t); }));
    qcow2_sink = image::NewQcow2Sink(writer.get(), compressor.get());
    E2Q_ASSIGN_OR_RETURN(sink,
                         image::NewStampingSink(qcow2_sink.get(), writer.get(),
                                                std::move(record)));
  } else {
    sink = image::NewRawSink(out->file(), size, out->sparse());
  }

  Progress progress(o.progress, "Converting", "MiB",
                    (size + kProgressUnit - 1) / kProgressUnit, kProgressUnit);
  E2Q_RETURN_IF_ERROR(
      image::CopyGuestContent(reader.get(), sink.get(), [&](uint64_t bytes) {
        progress.Update(bytes >= size
                            ? (size + kProgressUnit - 1) / kProgressUnit
                            : bytes / kProgressUnit);
      }));
  E2Q_RETURN_IF_ERROR(sink->Finish());
  E2Q_RETURN_IF_ERROR(out->Commit());
  progress.Finish();
  return Status::OK();
}

}  // namespace e2q::cli
