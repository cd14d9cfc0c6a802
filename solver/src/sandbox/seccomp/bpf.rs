//! A small compiler from profile rules to a classic BPF seccomp program.
//!
//! Layout of the program:
//!
//! ```text
//!   ld  arch;  jeq NATIVE ? next : ret ENOSYS
//!   ld  nr;    jge X32_BIT ? ret ENOSYS          (x86_64 only)
//!   per syscall, ascending:  jeq NR ? block : next-syscall
//!       block = per rule: argument checks (fail -> next rule); ret action
//!               then ret EPERM
//!   jgt MAX_KNOWN ? ret ENOSYS : ret EPERM
//! ```
//!
//! Jumps are forward and short: every block is self-contained, so no offset exceeds the
//! 8-bit `jt`/`jf` range. A linear scan costs a few hundred instructions per syscall at
//! worst; the kernel JIT-compiles it, and the cost is noise next to what a build does.

use std::collections::BTreeMap;

use super::{Action, ArgCheck, Rule};

const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_JGT_K: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
const BPF_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const BPF_AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;

/// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

/// x32 syscalls on x86_64 carry this bit in `nr` under the x86_64 audit arch.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;

/// Kernel limit on program length.
const BPF_MAXINSNS: usize = 4096;

/// A jump target: the next instruction or a label bound later.
#[derive(Clone, Copy)]
enum Target {
    Next,
    Label(usize),
}

struct Pending {
    code: u16,
    jt: Target,
    jf: Target,
    k: u32,
}

/// Emits instructions with symbolic forward jumps, then resolves them.
#[derive(Default)]
struct Assembler {
    insns: Vec<Pending>,
    labels: Vec<Option<usize>>,
}

impl Assembler {
    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }

    fn bind(&mut self, label: usize) {
        self.labels[label] = Some(self.insns.len());
    }

    fn stmt(&mut self, code: u16, k: u32) {
        self.insns.push(Pending {
            code,
            jt: Target::Next,
            jf: Target::Next,
            k,
        });
    }

    fn jump(&mut self, code: u16, k: u32, jt: Target, jf: Target) {
        self.insns.push(Pending { code, jt, jf, k });
    }

    fn ret(&mut self, action: Action) {
        let k = match action {
            Action::Allow => SECCOMP_RET_ALLOW,
            Action::Errno(errno) => SECCOMP_RET_ERRNO | (errno & 0xffff),
        };
        self.stmt(BPF_RET_K, k);
    }

    fn finish(self) -> Result<Vec<libc::sock_filter>, String> {
        if self.insns.len() > BPF_MAXINSNS {
            return Err(format!("program has {} instructions", self.insns.len()));
        }
        let resolve = |at: usize, target: Target| -> Result<u8, String> {
            match target {
                Target::Next => Ok(0),
                Target::Label(l) => {
                    let dest = self.labels[l].ok_or("unbound label")?;
                    let offset = dest.checked_sub(at + 1).ok_or("backward jump")?;
                    u8::try_from(offset).map_err(|_| format!("jump of {offset} at {at}"))
                }
            }
        };
        self.insns
            .iter()
            .enumerate()
            .map(|(at, p)| {
                Ok(libc::sock_filter {
                    code: p.code,
                    jt: resolve(at, p.jt)?,
                    jf: resolve(at, p.jf)?,
                    k: p.k,
                })
            })
            .collect()
    }
}

/// Loads the low or high 32 bits of syscall argument `index` (little-endian layout).
fn load_arg_half(asm: &mut Assembler, index: u8, high: bool) {
    let lo = OFF_ARGS + 8 * u32::from(index);
    let off = if cfg!(target_endian = "little") == high {
        lo + 4
    } else {
        lo
    };
    asm.stmt(BPF_LD_W_ABS, off);
}

/// Emits code that falls through when `check` holds for argument `index` and jumps to
/// `fail` otherwise.
fn emit_check(asm: &mut Assembler, index: u8, check: ArgCheck, fail: usize) {
    let fail = Target::Label(fail);
    match check {
        ArgCheck::Eq(v) => {
            load_arg_half(asm, index, true);
            asm.jump(BPF_JEQ_K, (v >> 32) as u32, Target::Next, fail);
            load_arg_half(asm, index, false);
            asm.jump(BPF_JEQ_K, v as u32, Target::Next, fail);
        }
        ArgCheck::MaskedEq { mask, value } => {
            load_arg_half(asm, index, true);
            asm.stmt(BPF_AND_K, (mask >> 32) as u32);
            asm.jump(BPF_JEQ_K, (value >> 32) as u32, Target::Next, fail);
            load_arg_half(asm, index, false);
            asm.stmt(BPF_AND_K, mask as u32);
            asm.jump(BPF_JEQ_K, value as u32, Target::Next, fail);
        }
        ArgCheck::Ne(v) => {
            // Holds unless both halves are equal.
            let pass = asm.label();
            load_arg_half(asm, index, true);
            asm.jump(
                BPF_JEQ_K,
                (v >> 32) as u32,
                Target::Next,
                Target::Label(pass),
            );
            load_arg_half(asm, index, false);
            asm.jump(BPF_JEQ_K, v as u32, fail, Target::Next);
            asm.bind(pass);
        }
    }
}

/// Compiles `rules` for the architecture `arch` whose syscall numbers are in `table`.
pub(super) fn compile(
    arch: u32,
    table: &[(&str, u32)],
    rules: &[Rule],
) -> Result<Vec<libc::sock_filter>, String> {
    let number: BTreeMap<&str, u32> = table.iter().copied().collect();
    let mut by_nr: BTreeMap<u32, Vec<&Rule>> = BTreeMap::new();
    for rule in rules {
        for name in rule.names {
            if let Some(&nr) = number.get(name) {
                by_nr.entry(nr).or_default().push(rule);
            }
        }
    }
    let max_known = table.iter().map(|&(_, nr)| nr).max().unwrap_or(0);
    let enosys = Action::Errno(libc::ENOSYS as u32);
    let eperm = Action::Errno(libc::EPERM as u32);

    let mut asm = Assembler::default();
    let native = asm.label();
    asm.stmt(BPF_LD_W_ABS, OFF_ARCH);
    asm.jump(BPF_JEQ_K, arch, Target::Label(native), Target::Next);
    asm.ret(enosys);
    asm.bind(native);
    asm.stmt(BPF_LD_W_ABS, OFF_NR);
    if arch == AUDIT_ARCH_X86_64 {
        let not_x32 = asm.label();
        asm.jump(
            BPF_JGE_K,
            X32_SYSCALL_BIT,
            Target::Next,
            Target::Label(not_x32),
        );
        asm.ret(enosys);
        asm.bind(not_x32);
    }
    for (nr, rules) in &by_nr {
        let next_syscall = asm.label();
        asm.jump(BPF_JEQ_K, *nr, Target::Next, Target::Label(next_syscall));
        for rule in rules {
            let next_rule = asm.label();
            for &(index, check) in rule.args {
                emit_check(&mut asm, index, check, next_rule);
            }
            asm.ret(rule.action);
            asm.bind(next_rule);
        }
        asm.ret(eperm);
        asm.bind(next_syscall);
    }
    let default = asm.label();
    asm.jump(BPF_JGT_K, max_known, Target::Next, Target::Label(default));
    asm.ret(enosys);
    asm.bind(default);
    asm.ret(eperm);
    asm.finish()
}

#[cfg(test)]
mod tests {
    use super::super::{DEFAULT_PROFILE, syscalls};
    use super::*;

    /// A tiny interpreter for the subset of BPF the compiler emits.
    fn run(prog: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                BPF_LD_W_ABS => {
                    let o = i.k as usize;
                    acc = u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
                }
                BPF_AND_K => acc &= i.k,
                BPF_RET_K => return i.k,
                c => {
                    let taken = match c {
                        BPF_JEQ_K => acc == i.k,
                        BPF_JGT_K => acc > i.k,
                        BPF_JGE_K => acc >= i.k,
                        _ => panic!("unexpected opcode {c:#x}"),
                    };
                    pc += usize::from(if taken { i.jt } else { i.jf });
                }
            }
        }
    }

    fn nr(name: &str) -> u32 {
        syscalls::X86_64.iter().find(|(n, _)| *n == name).unwrap().1
    }

    #[test]
    fn x86_64_profile_semantics() {
        let prog = compile(AUDIT_ARCH_X86_64, syscalls::X86_64, DEFAULT_PROFILE).unwrap();
        let eperm = SECCOMP_RET_ERRNO | libc::EPERM as u32;
        let enosys = SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
        let a = AUDIT_ARCH_X86_64;
        assert_eq!(run(&prog, a, nr("read"), [0; 6]), SECCOMP_RET_ALLOW);
        assert_eq!(run(&prog, a, nr("unshare"), [0; 6]), eperm);
        assert_eq!(run(&prog, a, nr("mount"), [0; 6]), eperm);
        assert_eq!(run(&prog, a, nr("clone3"), [0; 6]), enosys);
        assert_eq!(run(&prog, a, 1000, [0; 6]), enosys);
        assert_eq!(run(&prog, a, nr("read") | X32_SYSCALL_BIT, [0; 6]), enosys);
        assert_eq!(run(&prog, 0x4000_0003, nr("read"), [0; 6]), enosys);
        // clone: threads and forks yes, namespaces no.
        assert_eq!(
            run(&prog, a, nr("clone"), [0x3d0f00, 0, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run(&prog, a, nr("clone"), [0x2000_0000, 0, 0, 0, 0, 0]),
            eperm
        );
        // personality: only the listed personas.
        assert_eq!(
            run(&prog, a, nr("personality"), [8, 0, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run(&prog, a, nr("personality"), [0xffff_ffff, 0, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run(&prog, a, nr("personality"), [0x0040_0000, 0, 0, 0, 0, 0]),
            eperm
        );
        // socket: anything but AF_VSOCK.
        assert_eq!(
            run(&prog, a, nr("socket"), [2, 1, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(run(&prog, a, nr("socket"), [40, 1, 0, 0, 0, 0]), eperm);
        assert_eq!(
            run(&prog, a, nr("socket"), [40 | 1 << 32, 1, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
    }

    #[test]
    fn aarch64_profile_compiles() {
        assert!(compile(0xC000_00B7, syscalls::AARCH64, DEFAULT_PROFILE).is_ok());
    }
}
