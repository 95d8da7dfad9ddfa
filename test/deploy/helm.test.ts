/**
 * The Helm chart (deploy/helm/pavilion): `helm lint`, `helm template` with the
 * production defaults and with the in-cluster development dependencies, every
 * built-in object checked against the Kubernetes schemas offline
 * (kubernetes-validate, from PyPI, ships them), the hardening checks of checkov
 * (non-root, read-only root filesystem, no privilege escalation, limits,
 * probes), and what the chart promises operators: probes on /readyz and
 * /healthz, rolling updates without a gap, the drain time, one MASTER_KEY and
 * one audit signing key for every replica, the alert rules identical to
 * deploy/prometheus's.
 *
 * HELM_BIN, KUBERNETES_VALIDATE_BIN and CHECKOV_BIN come from .ci/run; skipped
 * without them, failing when CI is set.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { logSigningOptions, openAuditLog } from '../../audit/index.js';
import { loadConfig } from '../../server/config.js';
import { openDatabase } from '../../storage/postgres.js';
import { MUST_RUN } from './services.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CHART = join(ROOT, 'deploy', 'helm', 'pavilion');
const helm = process.env.HELM_BIN;
const kubernetesValidate = process.env.KUBERNETES_VALIDATE_BIN;
const checkov = process.env.CHECKOV_BIN;
const promtool = process.env.PROMTOOL_BIN;
const TOOLS_MISSING =
  'HELM_BIN, KUBERNETES_VALIDATE_BIN and CHECKOV_BIN are not set: .ci/run builds helm from the Go module proxy and ' +
  'installs kubernetes-validate and checkov from PyPI. Skipped without them, except when CI is set, where it fails.';
const DEV_DEPENDENCIES = [
  '--set',
  'postgresql.enabled=true',
  '--set',
  'redis.enabled=true',
  '--set',
  'minio.enabled=true',
  '--set',
  'keycloak.enabled=true',
];
/** The backup CronJob, as an operator turns it on: where the dumps go and the keys for it. */
const BACKUP = [
  '--set',
  'backup.enabled=true',
  '--set',
  'backup.endpoint=https://s3.eu-west-1.amazonaws.com',
  '--set',
  'backup.credentialsSecret=pavilion-backup-s3',
];
/** CRDs of the Prometheus Operator: not in the Kubernetes schemas, checked by shape below. */
const CUSTOM_KINDS = new Set(['ServiceMonitor', 'PrometheusRule']);

type Manifest = any;

function sh(command: string, args: string[]): { status: number | null; out: string; stdout: string } {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 300_000, maxBuffer: 64 << 20 });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, stdout: r.stdout ?? '' };
}

function render(...args: string[]): Manifest[] {
  return renderRelease('pavilion', ...args);
}

function renderRelease(release: string, ...args: string[]): Manifest[] {
  const r = sh(helm!, ['template', release, CHART, '--namespace', 'pavilion', ...args]);
  expect(r.status, r.out).toBe(0);
  const documents = parseAllDocuments(r.stdout);
  // A key rendered twice (config.PORT beside the chart's PORT) is an error here, not a silent last-one-wins.
  for (const d of documents) expect(d.errors.map((e) => e.message)).toEqual([]);
  return documents.map((d) => d.toJSON()).filter((d) => d !== null);
}

/** `helm template` that must fail: its message. */
function renderFails(...args: string[]): string {
  const r = sh(helm!, ['template', 'pavilion', CHART, '--namespace', 'pavilion', ...args]);
  expect(r.status, r.out).not.toBe(0);
  return r.out;
}

function byKind(manifests: Manifest[], kind: string): Manifest[] {
  return manifests.filter((m) => m.kind === kind);
}

/** The broker container of the chart's Deployment. */
function brokerContainer(manifests: Manifest[]): Manifest {
  return byKind(manifests, 'Deployment').find((d) => d.metadata.name === 'pavilion').spec.template.spec.containers[0];
}

/** The settings a broker pod starts with: the ConfigMap, then the Secret (decoded), as its envFrom lists them. */
function podSettings(manifests: Manifest[], fullname = 'pavilion'): Record<string, string> {
  const config = byKind(manifests, 'ConfigMap').find((c) => c.metadata.name === `${fullname}-config`);
  const secret = byKind(manifests, 'Secret').find((c) => c.metadata.name === `${fullname}-secret`);
  const decoded = Object.entries(secret.data as Record<string, string>).map(([k, v]) => [
    k,
    Buffer.from(v, 'base64').toString(),
  ]);
  return { ...config.data, ...Object.fromEntries(decoded) };
}

describe('the chart copies of the rules and the realm', () => {
  it('are the files under deploy/prometheus and deploy/keycloak, byte for byte', () => {
    expect(readFileSync(join(CHART, 'files', 'pavilion.rules.yml'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'deploy', 'prometheus', 'rules', 'pavilion.rules.yml'), 'utf8'),
    );
    expect(readFileSync(join(CHART, 'files', 'pavilion-realm.json'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'deploy', 'keycloak', 'pavilion-realm.json'), 'utf8'),
    );
  });
});

const haveTools = Boolean(helm && kubernetesValidate && checkov);

describe.skipIf(!haveTools && !MUST_RUN)('the Helm chart', () => {
  let production: Manifest[];
  let development: Manifest[];
  let backedUp: Manifest[];
  const dir = mkdtempSync(join(tmpdir(), 'pavilion-helm-'));

  beforeAll(() => {
    if (!haveTools) throw new Error(TOOLS_MISSING);
    production = render();
    development = render(...DEV_DEPENDENCIES);
    backedUp = render(...BACKUP);
  });

  it('lints, with the defaults and with every development dependency', () => {
    for (const args of [[], DEV_DEPENDENCIES, BACKUP]) {
      const r = sh(helm!, ['lint', '--strict', CHART, ...args]);
      expect(r.status, r.out).toBe(0);
    }
  });

  it('renders the objects an operator expects', () => {
    const kinds = production.map((m) => m.kind).sort();
    for (const kind of [
      'ConfigMap',
      'Deployment',
      'HorizontalPodAutoscaler',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'PrometheusRule',
      'Secret',
      'Service',
      'ServiceMonitor',
    ])
      expect(kinds).toContain(kind);
    expect(byKind(production, 'StatefulSet')).toEqual([]);
    const statefulSets = byKind(development, 'StatefulSet').map((s) => s.metadata.name);
    expect(statefulSets).toEqual(['pavilion-postgresql', 'pavilion-minio']);
    expect(byKind(development, 'Deployment').map((d) => d.metadata.name)).toEqual(
      expect.arrayContaining(['pavilion', 'pavilion-redis', 'pavilion-keycloak']),
    );
  });

  it("every built-in object validates against the Kubernetes schemas (strict), the chart's minimum and newest", () => {
    // Chart.yaml's kubeVersion is what the chart promises: it said 1.27 while the Deployment used preStop `sleep`
    // (on by default from 1.30), which the 1.27 schemas refuse. No version: the newest the tool ships.
    const minimum = /^>=(\d+\.\d+\.\d+)(-0)?$/.exec(parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')).kubeVersion);
    expect(minimum, 'kubeVersion is ">=X.Y.Z-0"').not.toBeNull();
    for (const version of [['--kubernetes-version', minimum![1]!], []])
      for (const [name, manifests] of [
        ['production', production],
        ['development', development],
        ['backup', backedUp],
      ] as const) {
        const builtIn = manifests.filter((m) => !CUSTOM_KINDS.has(m.kind));
        const file = join(dir, `${name}.yaml`);
        writeFileSync(file, builtIn.map((m) => `---\n${JSON.stringify(m)}\n`).join(''));
        const r = sh(kubernetesValidate!, ['--strict', ...version, file]);
        expect(r.status, r.out).toBe(0);
        expect(r.out).not.toMatch(/ERROR|WARN/);
        expect(r.out.match(/passed for resource/g)?.length, r.out).toBe(builtIn.length);
      }
  });

  it('the broker: probes on /readyz and /healthz, a rolling update without a gap, drained before it stops', () => {
    const broker = byKind(production, 'Deployment').find((d) => d.metadata.name === 'pavilion');
    const spec = broker.spec;
    expect(spec.replicas).toBeUndefined(); // the HPA owns the count
    expect(spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    const pod = spec.template.spec;
    const c = pod.containers[0];
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c.startupProbe.httpGet.path).toBe('/healthz');
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBeGreaterThanOrEqual(300);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(c.lifecycle.preStop.sleep.seconds);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.resources.limits).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(c.envFrom.map((e: Manifest) => e.configMapRef?.name ?? e.secretRef?.name)).toEqual([
      'pavilion-config',
      'pavilion-secret',
    ]);
    const hpa = byKind(production, 'HorizontalPodAutoscaler')[0];
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(byKind(production, 'PodDisruptionBudget')[0].spec.minAvailable).toBe(1);
  });

  it('one MASTER_KEY for every replica: 32 bytes, generated once unless given', () => {
    const secret = byKind(production, 'Secret')[0];
    const key = Buffer.from(Buffer.from(secret.data.MASTER_KEY, 'base64').toString(), 'base64');
    expect(key.length).toBe(32);
    const given = render('--set', `secret.values.MASTER_KEY=${Buffer.alloc(32, 7).toString('base64')}`);
    expect(Buffer.from(byKind(given, 'Secret')[0].data.MASTER_KEY, 'base64').toString()).toBe(
      Buffer.alloc(32, 7).toString('base64'),
    );
    const external = render('--set', 'secret.existingSecret=managed-elsewhere');
    expect(byKind(external, 'Secret')).toEqual([]);
  });

  it('one audit signing key for all replicas, from the Secret, generated unless given', async () => {
    // Without it each pod made a development key in its own emptyDir STATE_DIR: replicas signed checkpoints with
    // different keys, a restart changed the key, and auditors' receipt checks failed (NOTE_UNVERIFIED).
    const settings = podSettings(production);
    expect(settings.AUDIT_SIGNING_KEY).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(settings.AUDIT_SIGNING_KEY!, 'base64').length).toBe(32);
    const refs = (c: Manifest) =>
      Object.fromEntries((c.env ?? []).map((e: Manifest) => [e.name, e.valueFrom?.secretKeyRef]));
    expect(refs(brokerContainer(production))).toMatchObject({
      MASTER_KEY: { name: 'pavilion-secret', key: 'MASTER_KEY' },
      AUDIT_SIGNING_KEY: { name: 'pavilion-secret', key: 'AUDIT_SIGNING_KEY' },
    });
    // The broker takes it as the log's key, named after the chart's AUDIT_ORIGIN, not a STATE_DIR key.
    const { DATABASE_URL: _db, REDIS_URL: _redis, ...rest } = settings;
    const config = loadConfig({ ...rest, STATE_DIR: dir, ANCHORING: 'off' });
    const signing = logSigningOptions({ ...config.audit, stateDir: config.stateDir });
    expect(signing.source).toBe('AUDIT_SIGNING_KEY');
    const db = await openDatabase({});
    try {
      const log = await openAuditLog({ sql: db.sql, origin: config.audit.origin, signerKey: signing.signerKey! });
      expect(log.verifierKey.split('+')[0]).toBe(settings.AUDIT_ORIGIN);
      await log.close();
    } finally {
      await db.close();
    }

    const seed = Buffer.alloc(32, 9).toString('base64');
    const given = render('--set', `secret.values.AUDIT_SIGNING_KEY=${seed}`);
    expect(podSettings(given).AUDIT_SIGNING_KEY).toBe(seed);
    // A mounted key file replaces it: nothing generated, nothing named.
    const file = render('--set', 'config.AUDIT_SIGNING_KEY_FILE=/keys/audit');
    expect(podSettings(file).AUDIT_SIGNING_KEY).toBeUndefined();
    expect(refs(brokerContainer(file)).AUDIT_SIGNING_KEY).toBeUndefined();
    // A Secret managed elsewhere must hold both keys: the pod names them, so one missing stops it.
    const external = render('--set', 'secret.existingSecret=managed-elsewhere');
    expect(refs(brokerContainer(external))).toMatchObject({
      MASTER_KEY: { name: 'managed-elsewhere', key: 'MASTER_KEY' },
      AUDIT_SIGNING_KEY: { name: 'managed-elsewhere', key: 'AUDIT_SIGNING_KEY' },
    });
  });

  it("one port for the broker's PORT, container, probes, NetworkPolicy and Service; no key rendered twice", () => {
    // `--set config.PORT=9000` rendered PORT twice in the ConfigMap while the container port and probes stayed 8080.
    const moved = render('--set', 'service.port=9000');
    expect(podSettings(moved).PORT).toBe('9000');
    const c = brokerContainer(moved);
    expect(c.ports).toEqual([{ name: 'http', containerPort: 9000, protocol: 'TCP' }]);
    for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe]) expect(probe.httpGet.port).toBe('http');
    expect(byKind(moved, 'Service')[0].spec.ports).toEqual([
      { name: 'http', port: 9000, targetPort: 'http', protocol: 'TCP' },
    ]);
    for (const rule of byKind(moved, 'NetworkPolicy')[0].spec.ingress)
      expect(rule.ports).toEqual([{ port: 9000, protocol: 'TCP' }]);
    expect(renderFails('--set', 'config.PORT=9000')).toMatch(/config\.PORT: set service\.port instead/);
    expect(renderFails('--set', 'config.STATE_DIR=/data')).toMatch(/config\.STATE_DIR: the chart sets it/);
    expect(renderFails('--set', 'config.MASTER_KEY=x')).toMatch(/config\.MASTER_KEY: a secret; set secret\.values/);
    expect(podSettings(render('--set', 'config.HOST=::')).HOST).toBe('::');
    expect(podSettings(production).HOST).toBe('0.0.0.0');
  });

  it('mounts files for the settings that name one (TLS, policy bundle, key file), with more env', () => {
    // The root filesystem is read-only and the chart mounted nothing: TLS_CERT_FILE, POLICY_BUNDLE(_KEY) and
    // AUDIT_SIGNING_KEY_FILE could not be used.
    const values = join(dir, 'files.yaml');
    writeFileSync(
      values,
      JSON.stringify({
        extraVolumes: [
          { name: 'tls', secret: { secretName: 'pavilion-tls' } },
          { name: 'policy', configMap: { name: 'pavilion-policy' } },
        ],
        extraVolumeMounts: [
          { name: 'tls', mountPath: '/etc/pavilion/tls', readOnly: true },
          { name: 'policy', mountPath: '/etc/pavilion/policy', readOnly: true },
        ],
        extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=1536' }],
        extraEnvFrom: [{ secretRef: { name: 'pavilion-more' } }],
        config: {
          TLS_CERT_FILE: '/etc/pavilion/tls/tls.crt',
          TLS_KEY_FILE: '/etc/pavilion/tls/tls.key',
          POLICY_BUNDLE: '/etc/pavilion/policy',
        },
      }),
    );
    const manifests = render('-f', values);
    const pod = byKind(manifests, 'Deployment')[0].spec.template.spec;
    const c = pod.containers[0];
    expect(pod.volumes.map((v: Manifest) => v.name)).toEqual(['state', 'tmp', 'tls', 'policy']);
    expect(c.volumeMounts.map((m: Manifest) => m.mountPath)).toEqual([
      '/var/lib/pavilion',
      '/tmp',
      '/etc/pavilion/tls',
      '/etc/pavilion/policy',
    ]);
    expect(c.env).toContainEqual({ name: 'NODE_OPTIONS', value: '--max-old-space-size=1536' });
    expect(c.envFrom.at(-1)).toEqual({ secretRef: { name: 'pavilion-more' } });
    // HTTPS only with TLS: the probes and the scrape follow.
    for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe]) expect(probe.httpGet.scheme).toBe('HTTPS');
    expect(byKind(manifests, 'ServiceMonitor')[0].spec.endpoints[0].scheme).toBe('https');
    expect(brokerContainer(production).readinessProbe.httpGet.scheme).toBe('HTTP');
    const file = join(dir, 'files-rendered.yaml');
    const builtIn = manifests.filter((m) => !CUSTOM_KINDS.has(m.kind));
    writeFileSync(file, builtIn.map((m) => `---\n${JSON.stringify(m)}\n`).join(''));
    const r = sh(kubernetesValidate!, ['--strict', file]);
    expect(r.status, r.out).toBe(0);
  });

  it("the development services are wired into the broker's settings, under any release name", () => {
    // DATABASE_URL and REDIS_URL named pavilion-postgresql and pavilion-redis whatever the release was called;
    // keycloak.enabled left OIDC_ISSUER at the example.invalid placeholder; minio.enabled gave no keys, no bucket.
    const manifests = renderRelease('other', ...DEV_DEPENDENCIES);
    const settings = podSettings(manifests, 'other-pavilion');
    const services = new Set(byKind(manifests, 'Service').map((x) => x.metadata.name));
    const host = (url: string) => new URL(url).hostname;
    expect(settings.DATABASE_URL).toBe('postgres://pavilion:change-me@other-pavilion-postgresql:5432/pavilion');
    for (const url of [settings.DATABASE_URL!, settings.REDIS_URL!, settings.S3_ENDPOINT!, settings.OIDC_ISSUER!])
      expect(services).toContain(host(url));
    expect(settings.OIDC_ISSUER).toBe('http://other-pavilion-keycloak:8080/realms/pavilion');
    const keycloak = byKind(manifests, 'Deployment').find((d) => d.metadata.name === 'other-pavilion-keycloak');
    expect(keycloak.spec.template.spec.containers[0].args).toContain('--hostname=http://other-pavilion-keycloak:8080');
    const minio = byKind(manifests, 'StatefulSet').find((x) => x.metadata.name === 'other-pavilion-minio');
    const minioEnv = Object.fromEntries(
      minio.spec.template.spec.containers[0].env.map((e: Manifest) => [e.name, e.value]),
    );
    expect([settings.S3_ACCESS_KEY, settings.S3_SECRET_KEY]).toEqual([
      minioEnv.MINIO_ROOT_USER,
      minioEnv.MINIO_ROOT_PASSWORD,
    ]);
    const bucket = byKind(manifests, 'Job').find((j) => j.metadata.name === 'other-pavilion-minio-bucket');
    expect(bucket.metadata.annotations['helm.sh/hook']).toBe('post-install,post-upgrade');
    const mc = bucket.spec.template.spec.containers[0];
    expect(mc.args[0]).toMatch(/mc --config-dir \/tmp\/mc mb --ignore-existing "local\/\$S3_BUCKET"/);
    expect(mc.env).toContainEqual({ name: 'S3_BUCKET', value: settings.S3_BUCKET });
    // An issuer of the operator's own stays; production keeps its settings (no development service).
    const own = renderRelease('other', ...DEV_DEPENDENCIES, '--set', 'config.OIDC_ISSUER=https://id.example/realms/x');
    expect(podSettings(own, 'other-pavilion').OIDC_ISSUER).toBe('https://id.example/realms/x');
    expect(podSettings(production).S3_ACCESS_KEY).toBeUndefined();
  });

  it('no demo dataset in the production database', () => {
    // The broker's default, 100000 for `npm start`, defined the dataset `demo` in the production database on
    // every pod start (and pods failed to start when a real data provider owned a dataset named `demo`).
    const { DATABASE_URL: _db, REDIS_URL: _redis, ...settings } = podSettings(production);
    expect(loadConfig(settings).demoRecords).toBe(0);
  });

  it('the PrometheusRule carries the rules of deploy/prometheus, the ServiceMonitor the job they select', () => {
    const rule = byKind(production, 'PrometheusRule')[0];
    const rules = parse(readFileSync(join(ROOT, 'deploy', 'prometheus', 'rules', 'pavilion.rules.yml'), 'utf8'));
    expect(rule.spec.groups).toEqual(rules.groups);
    const monitor = byKind(production, 'ServiceMonitor')[0];
    expect(monitor.spec.endpoints[0]).toMatchObject({ port: 'http', path: '/metrics' });
    expect(monitor.spec.endpoints[0].relabelings).toEqual([
      { targetLabel: 'job', replacement: 'pavilion-broker', action: 'replace' },
    ]);
  });

  it('Prometheus in another namespace may scrape, and an operator may label what it selects', () => {
    // The NetworkPolicy admitted only pods of the broker's namespace: a Prometheus in `monitoring` saw every broker
    // down. And nothing could label the ServiceMonitor and PrometheusRule, which kube-prometheus-stack selects by
    // `release: <name>`, so it ignored both.
    const policy = byKind(production, 'NetworkPolicy')[0];
    expect(policy.spec.ingress).toContainEqual({
      from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
      ports: [{ port: 8080, protocol: 'TCP' }],
    });
    const closed = byKind(render('--set-json', 'networkPolicy.metricsFrom=[]'), 'NetworkPolicy')[0];
    expect(closed.spec.ingress).toEqual([{ from: [{ podSelector: {} }], ports: [{ port: 8080, protocol: 'TCP' }] }]);
    const labelled = render(
      '--set',
      'metrics.serviceMonitor.labels.release=kps',
      '--set',
      'metrics.prometheusRule.labels.release=kps',
    );
    for (const kind of ['ServiceMonitor', 'PrometheusRule'])
      expect(byKind(labelled, kind)[0].metadata.labels).toMatchObject({
        release: 'kps',
        'app.kubernetes.io/instance': 'pavilion',
      });
  });

  it('the backup CronJob, once told where to: dumps with pg_dump and checks the dump before uploading it', () => {
    // It was on by default with a placeholder endpoint and a Secret the chart does not make: it failed daily.
    expect(byKind(production, 'CronJob')).toEqual([]);
    expect(renderFails('--set', 'backup.enabled=true')).toMatch(/backup\.enabled needs backup\.endpoint/);
    expect(renderFails(...BACKUP, '--set', 'backup.credentialsSecret=')).toMatch(
      /backup\.enabled needs backup\.credentialsSecret/,
    );
    const cron = byKind(backedUp, 'CronJob')[0];
    const pod = cron.spec.jobTemplate.spec.template.spec;
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    expect(pod.initContainers[0].args[0]).toMatch(/pg_dump --format=custom[\s\S]*pg_restore --list/);
    expect(pod.containers[0].args[0]).toMatch(/mc --config-dir \/tmp\/mc cp/);
    const env = Object.fromEntries(pod.containers[0].env.map((e: Manifest) => [e.name, e.value ?? e.valueFrom]));
    expect(env.S3_ENDPOINT).toBe('https://s3.eu-west-1.amazonaws.com');
    expect(env.AWS_ACCESS_KEY_ID).toEqual({ secretKeyRef: { name: 'pavilion-backup-s3', key: 'AWS_ACCESS_KEY_ID' } });
  });

  it.skipIf(!promtool && !MUST_RUN)('a failed or missing backup alerts (kube-state-metrics series)', () => {
    if (!promtool) throw new Error('PROMTOOL_BIN is not set (.ci/run exports it)');
    const rule = byKind(backedUp, 'PrometheusRule')[0];
    expect(byKind(production, 'PrometheusRule')[0].spec.groups.map((g: Manifest) => g.name)).not.toContain(
      'pavilion.backup',
    );
    const group = rule.spec.groups.find((g: Manifest) => g.name === 'pavilion.backup');
    const rules = join(dir, 'backup.rules.yml');
    writeFileSync(rules, JSON.stringify({ groups: [group] }));
    const check = sh(promtool, ['check', 'rules', rules]);
    expect(check.status, check.out).toBe(0);
    // What kube-state-metrics reports for the CronJob `pavilion-backup` in namespace `pavilion`: a run that
    // failed at hour 2, and a last success at hour 0 that is never followed by another.
    const failed = 'job_name="pavilion-backup-29000120",namespace="pavilion"';
    const tests = join(dir, 'backup.rules.test.yml');
    writeFileSync(
      tests,
      JSON.stringify({
        rule_files: [rules],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: [
              { series: `kube_job_failed{${failed},condition="true"}`, values: '0x119 1x1700' },
              { series: `kube_job_failed{${failed},condition="false"}`, values: '0x1820' },
              { series: `kube_job_status_start_time{${failed}}`, values: '7200x1820' },
              {
                series: 'kube_cronjob_status_last_successful_time{cronjob="pavilion-backup",namespace="pavilion"}',
                values: '0x1820',
              },
              // Another release's CronJob in the namespace is not ours.
              {
                series: 'kube_job_failed{job_name="other-backup-1",namespace="pavilion",condition="true"}',
                values: '1x1820',
              },
            ],
            alert_rule_test: [
              { eval_time: '1h', alertname: 'PavilionBackupFailed' },
              {
                eval_time: '3h',
                alertname: 'PavilionBackupFailed',
                exp_alerts: [
                  {
                    exp_labels: { severity: 'warning', namespace: 'pavilion', job_name: 'pavilion-backup-29000120' },
                    exp_annotations: {
                      summary: 'Backup run pavilion-backup-29000120 failed',
                      description: 'kubectl logs job/<job> -c dump (pg_dump) or -c upload (the S3 copy)',
                      runbook: 'docs/operations.md#backups-and-restore',
                    },
                  },
                ],
              },
              // Past alertAfterHours (26) after the run, the failure alert ends; the staleness alert holds.
              { eval_time: '29h', alertname: 'PavilionBackupFailed' },
              { eval_time: '25h', alertname: 'PavilionBackupTooOld' },
              {
                eval_time: '27h',
                alertname: 'PavilionBackupTooOld',
                exp_alerts: [
                  {
                    exp_labels: { severity: 'critical', namespace: 'pavilion', cronjob: 'pavilion-backup' },
                    exp_annotations: {
                      summary: 'No successful database backup for over 26 hours',
                      runbook: 'docs/operations.md#backups-and-restore',
                    },
                  },
                ],
              },
            ],
          },
        ],
      }),
    );
    const r = sh(promtool, ['test', 'rules', tests]);
    expect(r.status, r.out).toBe(0);
  });

  it('checkov finds no hardening failure in the production objects', () => {
    const file = join(dir, 'checkov', 'pavilion.yaml');
    sh('mkdir', ['-p', join(dir, 'checkov')]);
    // With the backup CronJob, so its pods are checked too.
    writeFileSync(file, backedUp.map((m) => `---\n${JSON.stringify(m)}\n`).join(''));
    const checks = [
      'CKV_K8S_8', // liveness probe
      'CKV_K8S_9', // readiness probe
      'CKV_K8S_10', // CPU requests
      'CKV_K8S_11', // CPU limits
      'CKV_K8S_12', // memory requests
      'CKV_K8S_13', // memory limits
      'CKV_K8S_16', // not privileged
      'CKV_K8S_20', // no privilege escalation
      'CKV_K8S_22', // read-only root filesystem
      'CKV_K8S_23', // not root
      'CKV_K8S_28', // no NET_RAW
      'CKV_K8S_29', // pod security context
      'CKV_K8S_30', // container security context
      'CKV_K8S_31', // seccomp
      'CKV_K8S_37', // capabilities dropped
      'CKV_K8S_38', // no service account token
      'CKV_K8S_40', // high UID
    ];
    const r = sh(checkov!, [
      '--quiet',
      '--compact',
      '--framework',
      'kubernetes',
      '--check',
      checks.join(','),
      '--output',
      'json',
      '-d',
      join(dir, 'checkov'),
    ]);
    const report = JSON.parse(r.stdout);
    const summary = (Array.isArray(report) ? report[0] : report).summary;
    expect(summary.failed, r.out.slice(0, 4000)).toBe(0);
    expect(summary.passed).toBeGreaterThan(20);
    expect(r.status, r.out.slice(0, 2000)).toBe(0);
  }, 300_000);
});

// Registered only when the service is missing, so a run that has it reports no skip.
if (!(haveTools || MUST_RUN))
  describe('the Helm chart', () => {
    it.skip(TOOLS_MISSING, () => {});
  });
