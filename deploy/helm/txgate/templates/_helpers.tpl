{{/* The objects' name: the release name, with "-txgate" unless it has it. */}}
{{- define "txgate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries (the kustomize base's, plus Helm's). */}}
{{- define "txgate.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: txgate
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The labels that select txgate's pods. */}}
{{- define "txgate.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "txgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "txgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The image reference: repository@digest, else repository:tag (tag defaults to
appVersion). Floating references fail the rendering: no latest, no 0.1.
*/}}
{{- define "txgate.image" -}}
{{- $repo := required "image.repository is required" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" .Values.image.digest) -}}
{{- fail (printf "image.digest %q is not sha256:<64 hex digits>" .Values.image.digest) -}}
{{- end -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- $tag := toString (default .Chart.AppVersion .Values.image.tag) -}}
{{- if not (regexMatch "^v?[0-9]+\\.[0-9]+\\.[0-9]+([-+_.][0-9A-Za-z_.-]+)?$" $tag) -}}
{{- fail (printf "image.tag %q floats: set an exact release (1.2.3) or image.digest" $tag) -}}
{{- end -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{/*
The connection budget (deploy/k8s/README.md, "Connection budget"), checked at
render time so that an install with other values fails as CI fails the
defaults (tests/deploy/k8svalidate/budget.go computes the same):
  pods    = maxReplicas (replicas without the HPA) + maxSurge
  per pod = (pool.maxSize + 2) + (readOnly.poolMaxSize + 2 when readOnly.enabled)
  pods x per pod <= database.maxConnections - database.connectionReserve
  pods x (pool.maxSize + readOnly.poolMaxSize) x mysql.statementCacheSize
      <= database.maxPreparedStmtCount - database.preparedStmtReserve
*/}}
{{- define "txgate.checkBudget" -}}
{{- if .Values.database.enforceBudget -}}
{{- $v := .Values -}}
{{- $replicas := int (ternary $v.autoscaling.maxReplicas $v.replicas $v.autoscaling.enabled) -}}
{{- $surge := 0 -}}
{{- $s := toString $v.maxSurge -}}
{{- if hasSuffix "%" $s -}}
{{- $surge = div (add (mul (int (trimSuffix "%" $s)) $replicas) 99) 100 -}}
{{- else -}}
{{- $surge = int $s -}}
{{- end -}}
{{- $pods := add $replicas $surge -}}
{{- $pool := int $v.pool.maxSize -}}
{{- $ro := 0 -}}
{{- if $v.readOnly.enabled -}}
{{- $ro = int $v.readOnly.poolMaxSize -}}
{{- if le $ro 0 -}}{{- $ro = max 1 (div $pool 2) -}}{{- end -}}
{{- end -}}
{{- $perPod := add $pool 2 -}}
{{- if gt $ro 0 -}}{{- $perPod = add $perPod $ro 2 -}}{{- end -}}
{{- $conns := mul $pods $perPod -}}
{{- $availConns := sub (int $v.database.maxConnections) (int $v.database.connectionReserve) -}}
{{- if gt $conns $availConns -}}
{{- fail (printf "connection budget: %d pods (maxReplicas %d + maxSurge %d) x %d connections each = %d > database.maxConnections %d - database.connectionReserve %d = %d; lower autoscaling.maxReplicas or the pools, or raise the database's max_connections and database.maxConnections" $pods $replicas $surge $perPod $conns (int $v.database.maxConnections) (int $v.database.connectionReserve) $availConns) -}}
{{- end -}}
{{- $stmts := mul $pods (add $pool $ro) (int $v.mysql.statementCacheSize) -}}
{{- $availStmts := sub (int $v.database.maxPreparedStmtCount) (int $v.database.preparedStmtReserve) -}}
{{- if gt $stmts $availStmts -}}
{{- fail (printf "statement budget: %d pods x %d pooled connections x %d cached statements = %d > database.maxPreparedStmtCount %d - database.preparedStmtReserve %d = %d; lower mysql.statementCacheSize, the pools or autoscaling.maxReplicas" $pods (add $pool $ro) (int $v.mysql.statementCacheSize) $stmts (int $v.database.maxPreparedStmtCount) (int $v.database.preparedStmtReserve) $availStmts) -}}
{{- end -}}
{{- end -}}
{{- end -}}
