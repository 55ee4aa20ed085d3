/* What dlopen would otherwise find out the hard way: that a file is not a
 * shared object for this machine (reported by glibc as "No such file or
 * directory" for some foreign architectures), or that it is cut short, which
 * glibc's dlopen does not check before it touches the mapped pages: the
 * process then dies of SIGBUS. Reads the ELF header and the program headers
 * through the descriptor that was fstat'ed, and checks that every segment
 * lies inside the file. */
#include "loader/internal.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__)
#define LP__EM_HOST EM_X86_64
#elif defined(__aarch64__)
#define LP__EM_HOST EM_AARCH64
#elif defined(__i386__)
#define LP__EM_HOST EM_386
#elif defined(__arm__)
#define LP__EM_HOST EM_ARM
#elif defined(__riscv)
#define LP__EM_HOST EM_RISCV
#elif defined(__powerpc64__)
#define LP__EM_HOST EM_PPC64
#elif defined(__s390x__)
#define LP__EM_HOST EM_S390
#else
#define LP__EM_HOST 0 /* unknown: the machine is not checked */
#endif

#if UINTPTR_MAX > 0xffffffffu
#define LP__ELF_CLASS ELFCLASS64
#else
#define LP__ELF_CLASS ELFCLASS32
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LP__ELF_DATA ELFDATA2LSB
#else
#define LP__ELF_DATA ELFDATA2MSB
#endif

/* Most program header tables have under 16 entries; more than this is a
 * corrupt file, not a plugin. */
#define LP__MAX_PHDRS 256

const char *lp__elf_machine_name(unsigned machine) {
    switch (machine) {
    case EM_X86_64:
        return "x86-64";
    case EM_AARCH64:
        return "AArch64";
    case EM_386:
        return "i386";
    case EM_ARM:
        return "32-bit ARM";
    case EM_RISCV:
        return "RISC-V";
    case EM_PPC64:
        return "PowerPC64";
    case EM_PPC:
        return "PowerPC";
    case EM_S390:
        return "s390";
    case EM_MIPS:
        return "MIPS";
    case EM_SPARCV9:
        return "SPARC V9";
    default:
        return NULL;
    }
}

static void lp__machine_text(unsigned machine, char *buf, size_t len) {
    const char *name = lp__elf_machine_name(machine);
    if (name != NULL)
        snprintf(buf, len, "%s", name);
    else
        snprintf(buf, len, "ELF machine %u", machine);
}

/* pread all of `len` bytes at `off`; 0, or -1 when the file is shorter or
 * unreadable. */
static int lp__read_at(int fd, void *buf, size_t len, uint64_t off) {
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int32_t lp__short(char *why, size_t why_len, uint64_t size, const char *what,
                         uint64_t need) {
    snprintf(why, why_len,
             "the file is cut short: it has %llu bytes but its %s ends at byte %llu (a partly "
             "copied or truncated install?): copy the plugin again",
             (unsigned long long)size, what, (unsigned long long)need);
    return LP_EPLUGIN;
}

int32_t lp__elf_check(int fd, uint64_t size, char *why, size_t why_len) {
    unsigned char ident[EI_NIDENT];
    if (size < EI_NIDENT || lp__read_at(fd, ident, sizeof ident, 0) != 0 ||
        memcmp(ident, ELFMAG, SELFMAG) != 0) {
        snprintf(why, why_len, "invalid ELF header (the file does not start with \\177ELF)");
        return LP_EPLUGIN;
    }
    if (ident[EI_CLASS] != LP__ELF_CLASS) {
        snprintf(why, why_len, "built as a %s ELF file, this host is %d-bit",
                 ident[EI_CLASS] == ELFCLASS32   ? "32-bit"
                 : ident[EI_CLASS] == ELFCLASS64 ? "64-bit"
                                                 : "unknown-class",
                 LP__ELF_CLASS == ELFCLASS64 ? 64 : 32);
        return LP_EPLUGIN;
    }
    if (ident[EI_DATA] != LP__ELF_DATA) {
        snprintf(why, why_len, "built %s-endian, this host is %s-endian",
                 ident[EI_DATA] == ELFDATA2MSB   ? "big"
                 : ident[EI_DATA] == ELFDATA2LSB ? "little"
                                                 : "unknown",
                 LP__ELF_DATA == ELFDATA2LSB ? "little" : "big");
        return LP_EPLUGIN;
    }
#if UINTPTR_MAX > 0xffffffffu
    typedef Elf64_Ehdr ehdr_t;
    typedef Elf64_Phdr phdr_t;
#else
    typedef Elf32_Ehdr ehdr_t;
    typedef Elf32_Phdr phdr_t;
#endif
    ehdr_t eh;
    if (size < sizeof eh || lp__read_at(fd, &eh, sizeof eh, 0) != 0)
        return lp__short(why, why_len, size, "ELF header", sizeof eh);
    if (LP__EM_HOST != 0 && eh.e_machine != LP__EM_HOST) {
        char theirs[48], ours[48];
        lp__machine_text(eh.e_machine, theirs, sizeof theirs);
        lp__machine_text(LP__EM_HOST, ours, sizeof ours);
        snprintf(why, why_len, "built for %s, this host is %s", theirs, ours);
        return LP_EPLUGIN;
    }
    if (eh.e_type != ET_DYN) {
        snprintf(why, why_len, "not a shared object (ELF type %u%s)", (unsigned)eh.e_type,
                 eh.e_type == ET_EXEC ? ", an executable" : "");
        return LP_EPLUGIN;
    }
    if (eh.e_phentsize != sizeof(phdr_t) || eh.e_phnum == 0 || eh.e_phnum > LP__MAX_PHDRS) {
        snprintf(why, why_len, "corrupt ELF header (%u program headers of %u bytes)",
                 (unsigned)eh.e_phnum, (unsigned)eh.e_phentsize);
        return LP_EPLUGIN;
    }
    uint64_t table_end = (uint64_t)eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(phdr_t);
    if (eh.e_phoff > size || table_end > size)
        return lp__short(why, why_len, size, "program header table", table_end);
    /* The section headers come last in the files linkers write: a copy cut
     * anywhere, even in what dlopen does not map, loses them. */
    if (eh.e_shoff != 0) {
        uint64_t sh_end = (uint64_t)eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize;
        if (eh.e_shoff > size || sh_end > size)
            return lp__short(why, why_len, size, "section header table", sh_end);
    }
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        phdr_t ph;
        if (lp__read_at(fd, &ph, sizeof ph, (uint64_t)eh.e_phoff + (uint64_t)i * sizeof ph) != 0)
            return lp__short(why, why_len, size, "program header table", table_end);
        if (ph.p_type == PT_NULL || ph.p_filesz == 0)
            continue;
        uint64_t end = (uint64_t)ph.p_offset + (uint64_t)ph.p_filesz;
        if (end < ph.p_offset || end > size) {
            char what[64];
            snprintf(what, sizeof what, "%ssegment #%u", ph.p_type == PT_LOAD ? "loadable " : "",
                     i);
            return lp__short(why, why_len, size, what, end);
        }
    }
    return LP_OK;
}
