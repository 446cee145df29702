// Which set-id bits an unprivileged modification drops: the kernel's setattr_should_drop_suidgid()
// rules, which the wire transport applies itself once it has taken HANDLE_KILLPRIV_V2.
import { hasKillableBits, modeAfterKill } from '../src/killpriv';

const REG = 0o100000;
const DIR = 0o040000;

test.each([
  ['set-user-ID always goes', REG | 0o4755, 100, 100, 0o755],
  ['set-group-ID with group-execute goes', REG | 0o2775, 100, 100, 0o775],
  ['both go', REG | 0o6777, 100, 100, 0o777],
  ['set-group-ID without group-execute stays for a member of the group (mandatory-locking mark)', REG | 0o2764, 100, 100, undefined],
  ['set-group-ID without group-execute goes for a caller outside the group', REG | 0o2764, 100, 65534, 0o764],
  ['nothing to drop', REG | 0o777, 100, 65534, undefined],
  ['directories keep theirs (set-group-ID there means inherit the group)', DIR | 0o2775, 100, 65534, undefined],
] as const)('%s', (_name, mode, fileGid, callerGid, expected) => {
  expect(modeAfterKill(mode, fileGid, callerGid)).toBe(expected);
});

test('hasKillableBits: regular files with either bit only', () => {
  expect(hasKillableBits(REG | 0o4755)).toBe(true);
  expect(hasKillableBits(REG | 0o2644)).toBe(true);
  expect(hasKillableBits(REG | 0o755)).toBe(false);
  expect(hasKillableBits(DIR | 0o2775)).toBe(false);
});
