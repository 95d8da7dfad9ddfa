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
