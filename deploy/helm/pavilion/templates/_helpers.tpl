{{- define "pavilion.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pavilion.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "pavilion.labels" -}}
app.kubernetes.io/name: {{ include "pavilion.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "pavilion.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pavilion.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: broker
{{- end -}}

{{- define "pavilion.secretName" -}}
{{- default (printf "%s-secret" (include "pavilion.fullname" .)) .Values.secret.existingSecret -}}
{{- end -}}

{{/* A hardened container: non-root, read-only root filesystem, no privilege escalation, no capabilities. */}}
{{- define "pavilion.containerSecurity" -}}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
{{- end -}}

{{/* Small fixed resources for the in-cluster development dependencies. */}}
{{- define "pavilion.depResources" -}}
resources:
  requests: { cpu: 100m, memory: 256Mi }
  limits: { cpu: "1", memory: 1Gi }
{{- end -}}

{{/*
Settings the chart owns, refused in `config` rather than rendered twice into the ConfigMap (the later key won, and
`config.PORT` left the container port, probes and Service at the old port): PORT comes from service.port,
STATE_DIR is the pod's emptyDir. Secrets belong in the Secret, not in a ConfigMap anyone may read.
*/}}
{{- define "pavilion.validateConfig" -}}
{{- if hasKey .Values.config "PORT" }}
{{- fail "config.PORT: set service.port instead; it is the broker's PORT, the container port, the probes' and the Service's port together" }}
{{- end }}
{{- if hasKey .Values.config "STATE_DIR" }}
{{- fail "config.STATE_DIR: the chart sets it to the pod's emptyDir, /var/lib/pavilion (the only writable folder besides /tmp)" }}
{{- end }}
{{- range $key := list "DATABASE_URL" "REDIS_URL" "MASTER_KEY" "AUDIT_SIGNING_KEY" "S3_SECRET_KEY" "ANCHOR_PRIVATE_KEY" }}
{{- if hasKey $.Values.config $key }}
{{- fail (printf "config.%s: a secret; set secret.values.%s (or put it in secret.existingSecret) instead" $key $key) }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The broker serves HTTPS only once TLS_CERT_FILE (with TLS_KEY_FILE) is set: probes and scrapes follow. */}}
{{- define "pavilion.scheme" -}}
{{- if .Values.config.TLS_CERT_FILE }}HTTPS{{ else }}HTTP{{ end -}}
{{- end -}}

{{/* In-cluster development services, named after the release (dependencies.yaml). */}}
{{- define "pavilion.keycloakUrl" -}}
http://{{ include "pavilion.fullname" . }}-keycloak:8080
{{- end -}}
