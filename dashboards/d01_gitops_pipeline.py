"""01 GitOps 배포 파이프라인 (GitOps Pipeline): Bitbucket -> Jenkins builds -> Argo CD sync and health.

Catalog: docs/metrics/argocd.yaml, docs/metrics/jenkins.yaml. No recording rule covers the
GitOps layer yet, so these panels read the exporters' series directly (all small: one series
per Argo CD application / Jenkins job). Bitbucket (rules/bitbucket.rules.yaml) sits in a
collapsed row, left out of stacks that do not monitor Bitbucket (Inputs.parts).
"""

from __future__ import annotations

from dashboards import lib
from dashboards.lib import C, Board, target, Inputs, T

NUMBER = "01"

PROJECT = 'project=~"$project"'
JOB = 'jenkins_job=~"$jenkins_job"'

# Jenkins Prometheus plugin: ordinal of hudson.model.Result.
JENKINS_RESULTS = {
    "0": ("SUCCESS", lib.GREEN),
    "1": ("UNSTABLE", lib.YELLOW),
    "2": ("FAILURE", lib.RED),
    "3": ("NOT_BUILT", "gray"),
    "4": ("ABORTED", "gray"),
}


def build(inputs: Inputs) -> dict:
    b = Board(
        NUMBER,
        "Argo CD 애플리케이션 동기화/헬스 상태와 Jenkins 빌드 결과 (Argo CD application sync/health, Jenkins build results and durations).",
        tags=["gitops", "argocd", "jenkins"],
        variables=[
            lib.cluster_variable(),
            lib.query_variable("project", "Argo CD project", f"label_values(argocd_app_info{{{C}}}, project)"),
            lib.query_variable("jenkins_job", "Jenkins job", f"label_values(default_jenkins_builds_last_build_result_ordinal{{{C}}}, jenkins_job)"),
        ],
    )

    b.row("Argo CD")
    sel = f"{C}, {PROJECT}"
    b.add(
        lib.stat_panel(
            "애플리케이션 (Applications)",
            [target(f"count(argocd_app_info{{{sel}}}) or vector(0)")],
            "short",
            w=4,
            decimals=0,
        ),
        lib.stat_panel(
            "동기화 안 됨 (OutOfSync)",
            [target(f"sum(dataops:gitops:apps_out_of_sync{{{sel}}}) or vector(0)")],
            "short",
            lib.steps(lib.GREEN, (1, lib.YELLOW)),
            "Applications whose live state differs from Git (ArgoCDAppOutOfSync fires after 30 min).",
            w=5,
            decimals=0,
        ),
        lib.stat_panel(
            "Degraded",
            [target(f"sum(dataops:gitops:apps_degraded{{{sel}}}) or vector(0)")],
            "short",
            lib.steps(lib.GREEN, (1, lib.RED)),
            "Applications whose health is Degraded (ArgoCDAppDegraded fires after 10 min).",
            w=5,
            decimals=0,
        ),
        lib.stat_panel(
            "동기화 실패율 24h (Sync failure ratio, 24 h)",
            [
                target(
                    f'(sum(increase(argocd_app_sync_total{{phase=~"Failed|Error", dry_run!="true", {sel}}}[24h])) or vector(0))'
                    f' / (sum(increase(argocd_app_sync_total{{dry_run!="true", {sel}}}[24h])) > 0)'
                )
            ],
            "percentunit",
            lib.high_is_bad(0.05, 0.2),
            "Syncs (dry runs excluded) that ended Failed or Error over all syncs in the last 24 h.",
            w=5,
            no_value="no syncs",
        ),
        lib.stat_panel(
            "동기화 24h (Syncs, 24 h)",
            [target(f'sum(increase(argocd_app_sync_total{{dry_run!="true", {sel}}}[24h])) or vector(0)')],
            "short",
            w=5,
            decimals=0,
        ),
    )
    b.add(
        lib.table_panel(
            "애플리케이션 상태 (Application status)",
            [target(f"max by (name, project, dest_namespace, sync_status, health_status) (argocd_app_info{{{sel}}})")],
            description="One row per Argo CD application with its sync and health status.",
            w=12,
            h=9,
            hide=("Time", "Value"),
        ),
        lib.timeseries_panel(
            "프로젝트별 동기화 실패율 1h (Sync failure ratio per project, 1 h)",
            [target(f"dataops:gitops:sync_failure_ratio_1h{{{sel}}}", "{{project}}")],
            "percentunit",
            lib.high_is_bad(0.05, 0.2),
            "Failed/Error over finished syncs in the last hour, per Argo CD project (no sample: no sync).",
            w=12,
            h=9,
            min_val=0,
            max_val=1,
        ),
    )
    b.add(
        lib.timeseries_panel(
            "단계별 동기화 (Syncs by phase)",
            [target(f'sum by (phase) (increase(argocd_app_sync_total{{dry_run!="true", {sel}}}[$__rate_interval]))', "{{phase}}")],
            "short",
            description="Sync operations finished per interval, by phase.",
            w=8,
            stacked=True,
        ),
        lib.timeseries_panel(
            "헬스 상태별 애플리케이션 (Applications by health)",
            [target(f"count by (health_status) (argocd_app_info{{{sel}}})", "{{health_status}}")],
            "short",
            w=8,
            stacked=True,
        ),
        lib.timeseries_panel(
            "동기화 상태별 애플리케이션 (Applications by sync status)",
            [target(f"count by (sync_status) (argocd_app_info{{{sel}}})", "{{sync_status}}")],
            "short",
            w=8,
            stacked=True,
        ),
    )

    b.row("Jenkins")
    jsel = f"{C}, {JOB}"
    b.add(
        lib.stat_panel(
            "마지막 빌드 실패 잡 (Jobs whose last build failed)",
            [target(f"sum(dataops:gitops:jenkins_failed_jobs{{{C}}}) or vector(0)")],
            "short",
            lib.steps(lib.GREEN, (1, lib.RED)),
            "Enabled jobs whose last finished build is FAILURE (deploy jobs page as JenkinsDeployPipelineFailing).",
            w=6,
            decimals=0,
        ),
        lib.stat_panel(
            "마지막 빌드 불안정 잡 (Jobs whose last build is unstable)",
            [target(f'count(default_jenkins_builds_last_build_result_ordinal{{buildable="true", {jsel}}} == 1) or vector(0)')],
            "short",
            lib.steps(lib.GREEN, (1, lib.YELLOW)),
            w=6,
            decimals=0,
        ),
        lib.table_panel(
            "잡별 마지막 빌드 결과 (Last build result per job)",
            [target(f'max by (jenkins_job) (default_jenkins_builds_last_build_result_ordinal{{buildable="true", {jsel}}})')],
            thresholds=lib.steps(lib.GREEN, (1, lib.YELLOW), (2, lib.RED), (3, "gray")),
            description="0 SUCCESS, 1 UNSTABLE, 2 FAILURE, 3 NOT_BUILT, 4 ABORTED; a job with a build running shows its previous result.",
            w=12,
            rename={"Value": "result"},
            mappings=lib.value_text(JENKINS_RESULTS),
        ),
    )
    b.add(
        lib.bargauge_panel(
            "평균 빌드 시간 상위 10 (Mean build duration, top 10 jobs)",
            [target(f"topk(10, dataops:gitops:jenkins_build_duration_seconds:mean{{{jsel}}})", "{{jenkins_job}}")],
            "s",
            lib.steps(lib.BLUE),
            "Mean duration over the builds Jenkins keeps per job (the plugin's summary has no quantiles).",
            w=24,
        ),
    )
    if inputs.shows("bitbucket"):
        _bitbucket(b)
    return b.build()


def _bitbucket(b: Board) -> None:
    git_max = T.bitbucket_git_failure_max()
    # The targets BitbucketDown watches, with the same selector (read from the rule).
    nodes = f"up{{{T.bitbucket_up_selector()}, {C}}}"
    b.collapsed_row(
        "Bitbucket",
        lib.stat_panel(
            "Bitbucket 가용성 (Bitbucket nodes answering)",
            [target(f"avg({nodes})")],
            "percentunit",
            lib.low_is_bad(1),
            "Share of Bitbucket nodes whose metrics endpoint answers (BitbucketDown fires for a node down 3 min).",
            w=6,
            h=8,
            no_value="not scraped",
        ),
        lib.timeseries_panel(
            "Git 요청 실패율 (Argo CD git request failure ratio, 15 min)",
            [target(f"dataops:bitbucket:git_request_failure_ratio_15m{{{C}}}", "{{repo}}")],
            "percentunit",
            lib.high_is_bad(0.05, git_max),
            f"Failed git fetch / ls-remote calls of Argo CD's repo server per repository; "
            f"dashed line = BitbucketGitRequestsFailing ({lib.pct(git_max)}).",
            w=12,
            h=8,
            min_val=0,
            max_val=1,
        ),
        lib.bargauge_panel(
            "라이선스 좌석 사용률 (License seats used)",
            [target(f"dataops:bitbucket:license_seats_used_ratio{{{C}}}", "{{namespace}}")],
            "percentunit",
            lib.high_is_bad(0.8, 0.95),
            "Active users over the users the license allows (no alert).",
            w=6,
            h=8,
            max_val=1,
        ),
    )
