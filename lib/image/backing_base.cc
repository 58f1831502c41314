// OpenBase: open the backing file, find its provenance record, compare.
#include "lib/image/backing_base.h"

#include <vector>

#include "lib/io/file.h"

namespace e2q::image {

namespace {

std::string Ids(const std::vector<uint32_t>& ids) {
  std::string s;
  for (uint32_t id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}

// What a record holds, for messages: "snapshot 3", "the live filesystem".
std::string StateOf(const Provenance& p) {
  std::string s;
  if (!p.snapshot_ids.empty()) {
    s = (p.snapshot_ids.size() == 1 ? "snapshot " : "snapshots ") +
        Ids(p.snapshot_ids);
  }
  if (p.flags & Provenance::kFlagLive) {
    s += std::string(s.empty() ? "" : " and ") + "the live filesystem";
  }
  return s.empty() ? "no recorded state" : s;
}

}  // namespace

std::string BackingPath(const std::string& image, const std::string& backing) {
  if (backing.empty() || backing[0] == '/') return backing;
  size_t slash = image.rfind('/');
  if (slash == std::string::npos) return backing;
  return image.substr(0, slash + 1) + backing;
}

Result<std::unique_ptr<qcow2::Qcow2Reader>> OpenBase(
    const std::string& image, const std::string& backing,
    const BaseExpectation& want, Provenance* record) {
  const std::string path = BackingPath(image, backing);
  const std::string what = backing + ": --backing";
  auto file = io::OpenFileForRead(path);
  if (!file.ok()) return file.status().WithContext("--backing");
  auto opened = qcow2::Qcow2Reader::Open(std::move(file).value());
  if (!opened.ok()) return opened.status().WithContext("--backing");
  std::unique_ptr<qcow2::Qcow2Reader> base = std::move(opened).value();
  auto found = Provenance::Find(path, base->header());
  if (!found.ok()) return found.status().WithContext("--backing");
  const std::optional<Provenance>& prov = found.value();
  if (!prov) {
    return Status::InvalidArgument(
        what +
        ": no provenance record, so not an e2qimage export; an "
        "incremental export needs one to check the filesystem");
  }
  if (prov->fs_uuid != want.fs_uuid) {
    return Status::InvalidArgument(
        what + ": made from filesystem " + FormatUuid(prov->fs_uuid) +
        ", not from " + want.fs_name + " (" + FormatUuid(want.fs_uuid) + ")");
  }
  if (want.snapshot_id) {
    const bool holds_id1 = prov->snapshot_ids.size() == 1 &&
                           prov->snapshot_ids[0] == *want.snapshot_id &&
                           !(prov->flags & Provenance::kFlagLive);
    if (!holds_id1) {
      const std::string id = std::to_string(*want.snapshot_id);
      return Status::InvalidArgument(
          what + ": holds " + StateOf(*prov) + ", but -x " + id +
          "..ID2 needs an export of snapshot " + id + " alone");
    }
  }
  record->kind = ImageKind::kIncremental;
  record->base_digest = prov->digest;
  record->base_snapshot_ids = prov->snapshot_ids;
  return base;
}

}  // namespace e2q::image
