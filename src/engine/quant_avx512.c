/* AVX-512 (F/BW/VL/VNNI) kernels; entries left NULL use the AVX2 ones. */
#include "engine/quant_impl.h"

void hr_quant_kernels_avx512(hr_quant_kernels *t)
{
    t->name = "avx512";
}
