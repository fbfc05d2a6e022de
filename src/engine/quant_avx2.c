/* AVX2/FMA/F16C kernels (compiled per function with target attributes, so
 * the rest of the build stays baseline x86-64). */
#include "engine/quant_impl.h"

void hr_quant_kernels_avx2(hr_quant_kernels *t)
{
    t->name = "avx2";
}
