// Tests for lib/ext4_select; being written.
#include <gtest/gtest.h>
