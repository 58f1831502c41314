// --damage=KIND: breaks one next3 structure of a generated image in place,
// for the reader's error tests.  Kinds (next3-contract.md):
//   list-cycle        the oldest listed snapshot points back at the head
//   not-snapfile      SNAPFILE cleared on the oldest listed snapshot
//   ptr-out-of-range  a data pointer of the active snapshot's map is set
//                     past the end of the filesystem
//   truncated-map     the active snapshot's i_size ends at the image start
//                     (covers no image block) while its map is intact
//   bad-exclude-inode the exclude inode's DIND pointer is set past the end
//                     of the filesystem
//   bad-exclude-bitmap group 0's bg_exclude_bitmap (primary descriptor) is
//                     set past the end of the filesystem (--exclude=gdt or
//                     both only)
#ifndef E2Q_TESTS_TOOLS_NEXT3GEN_DAMAGE_H_
#define E2Q_TESTS_TOOLS_NEXT3GEN_DAMAGE_H_

#include <string>

namespace n3g {

bool DamageKnown(const std::string& kind);
void Damage(const std::string& image, const std::string& kind);

}  // namespace n3g

#endif  // E2Q_TESTS_TOOLS_NEXT3GEN_DAMAGE_H_
