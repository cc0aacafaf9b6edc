import { invalid } from '../../core/errors.js';

// Resolves Docker's `--user` and `--group-add` against the image's /etc/passwd and
// /etc/group, as runc/moby's `GetExecUser` does. Pure: the caller reads the files.

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

const NUM = /^[0-9]+$/;
const MAX_ID = 2 ** 31 - 1;

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (!l || l.startsWith('#')) continue;
    const f = l.split(':');
    if (f.length < 4 || !NUM.test(f[2] ?? '') || !NUM.test(f[3] ?? '')) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (!l || l.startsWith('#')) continue;
    const f = l.split(':');
    if (f.length < 3 || !NUM.test(f[2] ?? '')) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? '').split(',').map((s) => s.trim()).filter(Boolean) });
  }
  return out;
}

function numeric(s: string, what: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_ID) throw invalid(`invalid ${what} ${JSON.stringify(s)}`);
  return n;
}

/**
 * `user` is `""`, `name`, `uid`, `name:group`, `uid:gid` (either side a name or a number).
 * Without an explicit group the user's supplementary groups come from /etc/group.
 * A missing file is an empty file. `groupAdd` entries are group names or numbers.
 */
export function resolveUser(user: string, passwd: string | undefined, group: string | undefined, groupAdd: readonly string[] = []): ResolvedUser {
  const users = parsePasswd(passwd ?? '');
  const groups = parseGroup(group ?? '');
  const spec = user.trim();
  const colon = spec.indexOf(':');
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? '' : spec.slice(colon + 1);
  if (colon >= 0 && groupPart === '') throw invalid(`invalid user ${JSON.stringify(user)}: empty group`);

  let uid = 0;
  let gid = 0;
  let home = '/';
  let matchedName: string | undefined;
  // No user: uid 0, with the passwd entry of uid 0 when there is one (moby's GetExecUser).
  const userName = userPart === '' ? '0' : userPart;
  const byName = users.find((u) => u.name === userName);
  if (byName && !NUM.test(userName)) {
    ({ uid, gid, home } = byName);
    matchedName = byName.name;
  } else if (NUM.test(userName)) {
    uid = numeric(userName, 'user id');
    const byUid = users.find((u) => u.uid === uid);
    if (byUid) {
      gid = byUid.gid;
      home = byUid.home;
      matchedName = byUid.name;
    }
  } else {
    throw invalid(`unable to find user ${userName}: no matching entries in passwd file`);
  }

  let additionalGids: number[] = [];
  if (groupPart !== '') {
    if (NUM.test(groupPart)) gid = numeric(groupPart, 'group id');
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw invalid(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  } else if (matchedName) {
    additionalGids = groups.filter((g) => g.members.includes(matchedName!)).map((g) => g.gid);
  }
  for (const ga of groupAdd) {
    const s = ga.trim();
    if (NUM.test(s)) additionalGids.push(numeric(s, 'group id'));
    else {
      const g = groups.find((x) => x.name === s);
      if (!g) throw invalid(`Unable to find group ${s}: no matching entries in group file`);
      additionalGids.push(g.gid);
    }
  }
  additionalGids = [...new Set(additionalGids)].filter((g) => g !== gid);
  return { uid, gid, additionalGids, home };
}
