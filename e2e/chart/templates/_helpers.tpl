{{- define "kps.fullname" -}}{{ .Values.fullnameOverride | default .Release.Name }}{{- end }}
{{- define "kps.labels" -}}
release: {{ .Release.Name }}
heritage: {{ .Release.Service }}
app.kubernetes.io/part-of: kube-prometheus-stack
app.kubernetes.io/managed-by: {{ .Release.Service }}
chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}
{{- /* The chart's podAntiAffinity shorthand ("hard", "soft", "") as the real chart expands it. */ -}}
{{- define "kps.antiAffinity" -}}
{{- $mode := index . 0 }}{{- $labels := index . 1 }}
{{- if eq $mode "hard" }}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
  - topologyKey: kubernetes.io/hostname
    labelSelector:
      matchLabels: {{ toYaml $labels | nindent 8 }}
{{- else if eq $mode "soft" }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
  - weight: 100
    podAffinityTerm:
      topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels: {{ toYaml $labels | nindent 10 }}
{{- end }}
{{- end }}
