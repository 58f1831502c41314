// Tests for lib/qcow2_format; being written.
#include <gtest/gtest.h>
