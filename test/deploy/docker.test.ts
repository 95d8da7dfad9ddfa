/**
 * The Docker files no engine runs here (docs/operations.md, "What CI runs for
 * real"): docker-compose.yml's mounts and .dockerignore read as files, so
 * what went wrong once on a machine with Docker stays fixed.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'));

  it("keeps Keycloak's data in a volume mounted at /opt/keycloak/data, a folder the image has", () => {
    // The volume was mounted at /opt/keycloak/data/h2, which the image does not have: Docker made it owned by
    // root, Keycloak (uid 1000) could not write its H2 database and restarted forever, and the broker waited for
    // a healthy Keycloak forever. A volume mounted where the image has a folder takes that folder's owner.
    const mounts: string[] = compose.services.keycloak.volumes;
    const named = mounts.filter((m) => !/^[./]/.test(m));
    expect(named).toEqual(['keycloakdata:/opt/keycloak/data']);
    expect(Object.keys(compose.volumes)).toContain('keycloakdata');
  });
});

describe('.dockerignore', () => {
  /** A .dockerignore pattern as a regular expression: `**` any number of folders, `*` and `?` within one name. */
  function dockerPattern(pattern: string): RegExp {
    let re = '';
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern[i]!;
      if (pattern.startsWith('**/', i)) {
        re += '(?:.*/)?';
        i += 2;
      } else if (pattern.startsWith('**', i)) {
        re += '.*';
        i += 1;
      } else if (c === '*') re += '[^/]*';
      else if (c === '?') re += '[^/]';
      else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    return new RegExp(`^${re}$`);
  }

  /**
   * Docker's rules (moby/patternmatcher): patterns relative to the context root, and a path is left out when it
   * or a folder above it matches; a later `!pattern` takes a path back.
   */
  function dockerExcludes(patterns: string[], path: string): boolean {
    const parts = path.split('/');
    let excluded = false;
    for (const raw of patterns) {
      const negated = raw.startsWith('!');
      const pattern = dockerPattern((negated ? raw.slice(1) : raw).replace(/^\/+/, '').replace(/\/+$/, ''));
      if (parts.some((_, i) => pattern.test(parts.slice(0, i + 1).join('/')))) excluded = !negated;
    }
    return excluded;
  }

  it('leaves out everything git ignores, .pavilion (master.key, signing keys) first', () => {
    // `.pavilion/`, npm start's STATE_DIR with master.key and the development signing keys, is git-ignored but
    // was not docker-ignored: `COPY . .` baked it into the image.
    const lines = (file: string) =>
      readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('#'));
    const docker = lines('.dockerignore');
    const gitignores = execFileSync('git', ['ls-files', '--', '.gitignore', '**/.gitignore'], { cwd: ROOT })
      .toString()
      .split('\n')
      .filter(Boolean);
    expect(gitignores).toContain('.gitignore');
    // For each git pattern, a path it ignores at its folder's root and, for a pattern without an inner slash
    // (which git matches at any depth), one a folder deeper.
    const samples: string[] = [];
    for (const file of gitignores) {
      const folder = dirname(file) === '.' ? '' : `${dirname(file)}/`;
      for (const pattern of lines(file).filter((l) => !l.startsWith('!'))) {
        const path = pattern.replace(/\/$/, '').replace(/\*/g, 'x');
        const anchored = path.startsWith('/') || path.includes('/');
        const trimmed = path.replace(/^\//, '');
        samples.push(`${folder}${trimmed}/file`);
        if (!anchored) samples.push(`${folder}some/where/${trimmed}/file`);
      }
    }
    // The samples are what git ignores (so this test checks the real rules, not a copy of them), asked of an
    // empty repository holding the same .gitignore files, whatever this checkout holds (node_modules may be a
    // symbolic link, which git refuses to look beyond)...
    const scratch = mkdtempSync(join(tmpdir(), 'pavilion-ignore-'));
    execFileSync('git', ['init', '-q', scratch]);
    for (const file of gitignores) {
      mkdirSync(join(scratch, dirname(file)), { recursive: true });
      copyFileSync(join(ROOT, file), join(scratch, file));
    }
    const ignored = execFileSync('git', ['check-ignore', '--no-index', ...samples], { cwd: scratch })
      .toString()
      .split('\n')
      .filter(Boolean);
    expect(ignored.sort()).toEqual([...samples].sort());
    // ...and Docker leaves each out of the build context.
    expect(samples.filter((p) => !dockerExcludes(docker, p))).toEqual([]);
    expect(dockerExcludes(docker, '.pavilion/master.key')).toBe(true);
    // What the image needs stays in.
    for (const kept of ['package.json', 'server/main.ts', 'bin/pavilion.js', 'policy/bundle'])
      expect(dockerExcludes(docker, kept), kept).toBe(false);
  });
});
