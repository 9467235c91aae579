// Temporary: the implementation lands in the next commits.
#include "datasets/dataset.h"
