/*
 * Run-time choice of a kernel's instruction set. Header-only.
 *
 *     typedef double (*my_kernel_fn)(const my_job *J);
 *     LP__DEFINE_KERNELS(my_kernel_fn, my_kernel, double, (const my_job *J),
 *                        { return my_run(J); })
 *
 * defines, from one body, `static double my_kernel_base(const my_job *J)`
 * (the baseline ISA), on x86-64 with GCC or Clang also `my_kernel_avx2`
 * (compiled for AVX2 and FMA), and `static my_kernel_fn my_kernel_pick(void)`,
 * which returns the widest of them this CPU runs. Call the pick once (at
 * create) and keep the pointer. The body is usually a call of an always-inline
 * function, so that each copy is compiled for its own target.
 */
#ifndef LP_COMMON_DISPATCH_H
#define LP_COMMON_DISPATCH_H

#if defined(__GNUC__) && defined(__x86_64__)

#define LP__DEFINE_KERNELS(fn_type, name, ret, params, ...)                                        \
    static ret name##_base params __VA_ARGS__ __attribute__((target(                               \
        "avx2,fma"))) static ret name##_avx2 params __VA_ARGS__ static fn_type name##_pick(void) { \
        __builtin_cpu_init();                                                                      \
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))                       \
            return name##_avx2;                                                                    \
        return name##_base;                                                                        \
    }

#else

#define LP__DEFINE_KERNELS(fn_type, name, ret, params, ...)                                        \
    static ret name##_base params __VA_ARGS__ static fn_type name##_pick(void) {                   \
        return name##_base;                                                                        \
    }

#endif

/*
 * Three builds of one body, for code that profits from 512-bit vectors (the
 * host's model and optimizer):
 *
 *     LP__DEFINE_ISA_VARIANTS(my_kernel, void, (float *y, size_t n), { my_run(y, n); })
 *
 * defines `my_kernel_base`, and on x86-64 with GCC or Clang (where
 * LP__HAVE_ISA_VARIANTS is 1) also `my_kernel_avx2` (AVX2 and FMA) and
 * `my_kernel_avx512` (AVX-512 F/VL/BW/DQ with 512-bit vectors preferred).
 * lp__isa_level() says which of them this CPU (and OS) runs: build a table
 * of function pointers for that level once, at create. The builds differ in
 * vector width only: without -ffp-contract (C11 without GNU extensions
 * contracts nothing) an element-wise body gives the same bits in each.
 */
enum { LP__ISA_BASE = 0, LP__ISA_AVX2 = 1, LP__ISA_AVX512 = 2 };

#if defined(__GNUC__) && defined(__x86_64__)

#define LP__HAVE_ISA_VARIANTS 1
/* GCC takes a preferred vector width in `target`; Clang (14) does not, and
 * refuses the whole attribute (the fuzz build uses Clang). */
#if defined(__clang__)
#define LP__AVX512_TARGET "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"
#else
#define LP__AVX512_TARGET "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,prefer-vector-width=512"
#endif
#define LP__DEFINE_ISA_VARIANTS(name, ret, params, ...)                                            \
    static ret name##_base params __VA_ARGS__                                                      \
        __attribute__((target("avx2,fma"))) static ret name##_avx2 params __VA_ARGS__              \
        __attribute__((target(LP__AVX512_TARGET))) static ret name##_avx512 params __VA_ARGS__

/* The widest level this CPU runs (libgcc's check includes the OS's
 * support of the AVX and AVX-512 register state). */
static inline int lp__isa_level(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        return LP__ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return LP__ISA_AVX2;
    return LP__ISA_BASE;
}

#else

#define LP__HAVE_ISA_VARIANTS                           0
#define LP__DEFINE_ISA_VARIANTS(name, ret, params, ...) static ret name##_base params __VA_ARGS__
static inline int lp__isa_level(void) {
    return LP__ISA_BASE;
}

#endif

#endif /* LP_COMMON_DISPATCH_H */
