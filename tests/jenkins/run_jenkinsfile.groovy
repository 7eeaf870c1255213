// Runs a Jenkinsfile (declarative pipeline) without Jenkins, for tests/test_jenkinsfile.py.
//
//   groovy tests/jenkins/run_jenkinsfile.groovy Jenkinsfile '<events JSON>'
//
// The Jenkinsfile is compiled and run as a Groovy script whose base class (PipelineScript below)
// implements the declarative DSL: pipeline, agent, options, triggers, parameters, environment,
// stages/stage/parallel, when (branch, changeRequest, triggeredBy, expression, environment, tag,
// buildingTag, equals, not, allOf, anyOf, beforeAgent/beforeInput/beforeOptions), input, steps,
// post, and the steps we use (sh, echo, script, withCredentials with string/file/usernamePassword,
// lock, timeout, input, archiveArtifacts, catchError, readFile, writeFile, error, dir, withEnv,
// pullRequest.comment, ...). Nothing is executed: each step is recorded with its context (stage,
// bound credentials, held locks, timeouts, agent) and the records are printed as JSON.
//
// Events: a JSON object or a list of them, each simulated from scratch:
//   {"branch": "main" | "PR-7", "changeTarget": "main" (a change request when set),
//    "causes": ["BranchEventCause" | "TimerTrigger" | "UserIdCause", ...],
//    "commit": "<sha>", "params": {NAME: value}, "approve": true | false,
//    "fail": ["regex found in the sh commands that fail", ...],
//    "stdout": {"regex found in an sh command": "its stdout when run with returnStdout"},
//    "files": {"path": "content for readFile"}}
// Output: one JSON document per event (a list when given a list): result, pipeline directives,
// every declared stage (path, options, when) and the executed records in order.
// Exit status: 0 when every Jenkinsfile ran (whatever the simulated build result), 1 when it does
// not compile, 2 when it misuses the DSL or calls something the stub does not know, 3 on other
// runtime errors (e.g. a missing property).

import groovy.json.JsonOutput
import groovy.json.JsonSlurper
import org.codehaus.groovy.control.CompilationFailedException
import org.codehaus.groovy.control.CompilerConfiguration

class StepFailure extends RuntimeException {
    StepFailure(String message) { super(message) }
}

class BuildAborted extends RuntimeException {
    BuildAborted(String message) { super(message) }
}

// The Jenkinsfile uses the DSL in a way Jenkins would reject, or something the stub does not know.
class StubError extends RuntimeException {
    StubError(String message) { super(message) }
}

class Sim {
    static Sim current

    Map event
    Map<String, Object> env = [:]
    Map<String, Object> params = [:]
    List records = []
    List declaredStages = []
    Map pipelineInfo = [:]
    List<String> stagePath = []
    List credentials = []      // bound credentials, outermost first: [id:, variables:]
    List<String> locks = []
    List timeouts = []
    List<String> dirs = []
    List<String> stashes = []
    Map agent = null
    String result = 'SUCCESS'

    static String str(Object value) { value == null ? null : value.toString() }

    void record(Map entry) {
        Map full = [type: entry.type]
        entry.each { k, v -> full[k] = v instanceof GString ? v.toString() : v }
        full.stage = stagePath.join(' / ')
        full.credentials = credentials.collect { it.id }
        full.credentialVariables = credentials.collectMany { it.variables }
        full.locks = new ArrayList(locks)
        full.timeouts = new ArrayList(timeouts)
        if (dirs) full.dir = dirs.join('/')
        full.agent = agent
        records << full
    }

    boolean causedBy(String cause) {
        (event.causes ?: ['BranchEventCause']).any { it == cause || it.startsWith(cause + ':') }
    }

    static boolean globMatch(String pattern, String value) {
        if (value == null) return false
        String regex = pattern.collect { ch ->
            ch == '*' ? '.*' : ch == '?' ? '.' : java.util.regex.Pattern.quote(ch)
        }.join('')
        value ==~ regex
    }
}

// env.X reads null when unset, like Jenkins; env.X = v sets a string.
class EnvObject {
    def propertyMissing(String name) { Sim.current.env[name] }
    def propertyMissing(String name, value) { Sim.current.env[name] = Sim.str(value) }
    def getAt(String name) { Sim.current.env[name] }
    void putAt(String name, value) { Sim.current.env[name] = Sim.str(value) }
    Map getEnvironment() { new LinkedHashMap(Sim.current.env) }
}

class CurrentBuild {
    String description
    String displayName
    String getResult() { Sim.current.result == 'SUCCESS' ? null : Sim.current.result }
    void setResult(String value) { Sim.current.result = value }
    String getCurrentResult() { Sim.current.result }
    int getNumber() { (Sim.current.env.BUILD_NUMBER ?: '1') as int }
}

// Pipeline GitHub plugin's `pullRequest` global: only in change request builds.
class PullRequestStub {
    private void check() {
        if (!Sim.current.env.CHANGE_ID) throw new StepFailure('pullRequest is only available in change request builds')
    }
    void comment(String body) {
        check()
        Sim.current.record(type: 'comment', plugin: 'pipeline-github', body: body)
    }
    def propertyMissing(String name) {
        check()
        [number: Sim.current.env.CHANGE_ID as int, base: Sim.current.env.CHANGE_TARGET][name]
    }
}

class CredentialRef {
    String id
}

// ------------------------------------------------------------------------- directive builders

// Builders reject what their section does not allow (Jenkins' validator does the same).
abstract class Section {
    abstract String sectionName()

    def methodMissing(String name, args) {
        throw new StubError("'${name}' is not allowed in ${sectionName()}")
    }

    static Object run(Closure body, Object delegate) {
        Closure c = (Closure) body.clone()
        c.resolveStrategy = Closure.DELEGATE_FIRST
        c.delegate = delegate
        c.call()
    }

}

class AgentSpec {
    String kind            // none, any, label, docker, dockerfile
    Closure body           // evaluated when the agent is allocated (params/env are known then)
    String label

    Map resolve() {
        if (kind in ['none', 'any']) return [kind: kind]
        if (kind == 'label') return [kind: 'label', label: label]
        AgentBuilder builder = new AgentBuilder()
        Section.run(body, builder)
        return builder.spec
    }
}

class AgentBuilder extends Section {
    Map spec = null
    String sectionName() { 'agent' }

    void label(String value) { spec = [kind: 'label', label: value] }
    void docker(Closure body) { spec = [kind: 'docker'] + fields(body, ['image', 'args', 'label', 'reuseNode', 'alwaysPull', 'registryUrl', 'registryCredentialsId', 'customWorkspace']) }
    void docker(String image) { spec = [kind: 'docker', image: image] }
    void dockerfile(Closure body) { spec = [kind: 'dockerfile'] + fields(body, ['filename', 'dir', 'additionalBuildArgs', 'args', 'label', 'reuseNode']) }
    void dockerfile(boolean value) { spec = [kind: 'dockerfile'] }

    private static Map fields(Closure body, List<String> allowed) {
        FieldCollector collector = new FieldCollector(allowed: allowed)
        Section.run(body, collector)
        return collector.values
    }
}

class FieldCollector extends Section {
    List<String> allowed
    Map values = [:]
    String sectionName() { 'this block' }

    def methodMissing(String name, args) {
        if (!(name in allowed)) throw new StubError("'${name}' is not allowed here (allowed: ${allowed.join(', ')})")
        Object[] a = (Object[]) args
        if (a.length != 1) throw new StubError("'${name}' takes one value")
        values[name] = a[0] instanceof GString ? a[0].toString() : a[0]
        null
    }
}

class OptionsBuilder extends Section {
    List options = []
    boolean stageLevel
    String sectionName() { stageLevel ? 'stage options' : 'pipeline options' }

    private static final List PIPELINE_ONLY = ['disableConcurrentBuilds', 'buildDiscarder', 'durabilityHint', 'disableResume',
                                               'parallelsAlwaysFailFast', 'preserveStashes', 'quietPeriod', 'checkoutToSubdirectory',
                                               'newContainerPerStage', 'timestamps', 'ansiColor', 'skipStagesAfterUnstable']
    private static final List BOTH = ['timeout', 'retry', 'skipDefaultCheckout', 'lock', 'timestamps', 'ansiColor']

    def methodMissing(String name, args) {
        if (name == 'logRotator') return [logRotator: ((Object[]) args)[0]]
        boolean known = name in BOTH || (!stageLevel && name in PIPELINE_ONLY)
        if (!known) throw new StubError("option '${name}' is not allowed in ${sectionName()}")
        Object[] a = (Object[]) args
        options << [name: name, args: a.length == 0 ? null : (a.length == 1 ? normalise(a[0]) : a.collect { normalise(it) })]
        null
    }

    private static Object normalise(Object value) {
        if (value instanceof GString) return value.toString()
        if (value instanceof Map) return value.collectEntries { k, v -> [(k): normalise(v)] }
        value
    }
}

class TriggersBuilder extends Section {
    List triggers = []
    String sectionName() { 'triggers' }
    void cron(String spec) { triggers << [name: 'cron', spec: spec] }
    void pollSCM(String spec) { triggers << [name: 'pollSCM', spec: spec] }
    void upstream(Map args) { triggers << [name: 'upstream'] + args }
}

class ParametersBuilder extends Section {
    List parameters = []
    String sectionName() { 'parameters' }

    void string(Map a) { add('string', a, a.defaultValue ?: '') }
    void text(Map a) { add('text', a, a.defaultValue ?: '') }
    void booleanParam(Map a) { add('booleanParam', a, a.defaultValue ?: false) }
    void choice(Map a) {
        List choices = a.choices instanceof String ? a.choices.readLines() : a.choices as List
        if (!choices) throw new StubError("choice parameter ${a.name} has no choices")
        add('choice', a + [choices: choices], choices[0])
    }
    void password(Map a) { throw new StubError("password parameter ${a.name}: use a credential, not a build parameter") }

    private void add(String type, Map a, Object defaultValue) {
        if (!a.name) throw new StubError("${type} parameter without a name")
        parameters << [type: type, name: a.name, default: defaultValue, choices: a.choices, description: a.description]
    }
}

class EnvironmentBuilder extends Section {
    Map values = [:]   // name -> String or CredentialRef
    String sectionName() { 'environment' }
    CredentialRef credentials(String id) { new CredentialRef(id: id) }
    void setProperty(String name, Object value) {
        if (name in ['values']) throw new StubError("environment variable named ${name}")
        values[name] = value instanceof CredentialRef ? value : Sim.str(value)
    }
}

class InputBuilder extends Section {
    Map spec = [:]
    String sectionName() { 'input' }
    void message(String v) { spec.message = v }
    void ok(String v) { spec.ok = v }
    void submitter(String v) { spec.submitter = v }
    void submitterParameter(String v) { spec.submitterParameter = v }
    void id(String v) { spec.id = v }
    void parameters(Closure body) {
        ParametersBuilder p = new ParametersBuilder()
        Section.run(body, p)
        spec.parameters = p.parameters
    }
}

// when conditions: a tree evaluated against the simulated build.
class Cond {
    String kind
    Object arg
    List<Cond> children = []

    boolean eval(PipelineScript script) {
        Sim sim = Sim.current
        switch (kind) {
            case 'branch': return Sim.globMatch((String) arg, (String) sim.env.BRANCH_NAME)
            case 'changeRequest':
                if (!sim.env.CHANGE_ID) return false
                Map a = (Map) arg
                if (a?.target && !Sim.globMatch(a.target.toString(), (String) sim.env.CHANGE_TARGET)) return false
                if (a?.branch && !Sim.globMatch(a.branch.toString(), (String) sim.env.CHANGE_BRANCH)) return false
                return true
            case 'triggeredBy':
                return arg instanceof Map ? sim.causedBy("${arg.cause}:${arg.detail}") || sim.causedBy(arg.cause.toString()) : sim.causedBy(arg.toString())
            case 'expression':
                Closure c = (Closure) ((Closure) arg).clone()
                c.resolveStrategy = Closure.DELEGATE_FIRST
                c.delegate = script
                return c.call() as boolean
            case 'environment': return sim.env[arg.name] == Sim.str(arg.value)
            case 'equals': return Sim.str(arg.expected) == Sim.str(arg.actual)
            case 'buildingTag': return sim.env.TAG_NAME != null
            case 'tag': return Sim.globMatch((String) arg, (String) sim.env.TAG_NAME)
            case 'not': return !children[0].eval(script)
            case 'allOf': return children.every { it.eval(script) }
            case 'anyOf': return children.any { it.eval(script) }
        }
        throw new StubError("unknown when condition ${kind}")
    }

    String describe() {
        switch (kind) {
            case 'not': return "not(${children[0].describe()})"
            case 'allOf': case 'anyOf': return "${kind}(${children.collect { it.describe() }.join(', ')})"
            case 'expression': return 'expression{...}'
            case 'changeRequest': return arg ? "changeRequest(${arg})" : 'changeRequest()'
            default: return "${kind}(${arg == null ? '' : arg})"
        }
    }
}

class WhenBuilder extends Section {
    List<Cond> conditions = []
    boolean beforeAgent = false
    boolean beforeInput = false
    boolean beforeOptions = false
    boolean nested = false
    String sectionName() { nested ? 'a nested when condition' : 'when' }

    void branch(String pattern) { conditions << new Cond(kind: 'branch', arg: pattern) }
    void changeRequest() { conditions << new Cond(kind: 'changeRequest') }
    void changeRequest(Map a) { conditions << new Cond(kind: 'changeRequest', arg: a) }
    void triggeredBy(String cause) { conditions << new Cond(kind: 'triggeredBy', arg: cause) }
    void triggeredBy(Map a) { conditions << new Cond(kind: 'triggeredBy', arg: a) }
    void expression(Closure c) { conditions << new Cond(kind: 'expression', arg: c) }
    void environment(Map a) { conditions << new Cond(kind: 'environment', arg: a) }
    void equals(Map a) { conditions << new Cond(kind: 'equals', arg: a) }
    void buildingTag() { conditions << new Cond(kind: 'buildingTag') }
    void tag(String pattern) { conditions << new Cond(kind: 'tag', arg: pattern) }
    void not(Closure body) {
        List<Cond> c = nestedConditions(body)
        if (c.size() != 1) throw new StubError("not {} takes exactly one condition, got ${c.size()}")
        conditions << new Cond(kind: 'not', children: c)
    }
    void allOf(Closure body) { conditions << new Cond(kind: 'allOf', children: nestedConditions(body)) }
    void anyOf(Closure body) { conditions << new Cond(kind: 'anyOf', children: nestedConditions(body)) }
    void beforeAgent(boolean v) { top('beforeAgent'); beforeAgent = v }
    void beforeInput(boolean v) { top('beforeInput'); beforeInput = v }
    void beforeOptions(boolean v) { top('beforeOptions'); beforeOptions = v }

    private void top(String what) {
        if (nested) throw new StubError("${what} only at the top of when")
    }

    private List<Cond> nestedConditions(Closure body) {
        WhenBuilder inner = new WhenBuilder(nested: true)
        Section.run(body, inner)
        if (!inner.conditions) throw new StubError('empty nested when condition')
        return inner.conditions
    }
}

class PostBuilder extends Section {
    static final List CONDITIONS = ['always', 'changed', 'fixed', 'regression', 'aborted', 'failure', 'success', 'unstable', 'unsuccessful', 'cleanup']
    Map<String, Closure> bodies = [:]
    String sectionName() { 'post' }

    def methodMissing(String name, args) {
        if (!(name in CONDITIONS)) throw new StubError("post condition '${name}' is unknown")
        bodies[name] = (Closure) ((Object[]) args)[0]
        null
    }
}

class StageDef {
    String name
    AgentSpec agent
    WhenBuilder when
    List options = []
    Map input
    EnvironmentBuilder environment
    Closure steps
    List<StageDef> stages
    List<StageDef> parallel
    PostBuilder post
}

class StageBuilder extends Section {
    StageDef stage
    String sectionName() { "stage '${stage.name}'" }

    String getNone() { 'none' }
    String getAny() { 'any' }

    void agent(String kind) { once('agent', stage.agent); stage.agent = new AgentSpec(kind: kind) }
    void agent(Closure body) { once('agent', stage.agent); stage.agent = new AgentSpec(kind: 'block', body: body) }
    void when(Closure body) {
        once('when', stage.when)
        stage.when = new WhenBuilder()
        Section.run(body, stage.when)
        if (!stage.when.conditions) throw new StubError("stage '${stage.name}': empty when")
    }
    void options(Closure body) {
        OptionsBuilder b = new OptionsBuilder(stageLevel: true)
        Section.run(body, b)
        stage.options = b.options
    }
    void input(Closure body) {
        once('input', stage.input)
        InputBuilder b = new InputBuilder()
        Section.run(body, b)
        if (!b.spec.message) throw new StubError("stage '${stage.name}': input without a message")
        stage.input = b.spec
    }
    void environment(Closure body) {
        stage.environment = new EnvironmentBuilder()
        Section.run(body, stage.environment)
    }
    void steps(Closure body) { once('steps', stage.steps); stage.steps = body }
    void stages(Closure body) { once('stages', stage.stages); stage.stages = StagesBuilder.collect(body) }
    void parallel(Closure body) { once('parallel', stage.parallel); stage.parallel = StagesBuilder.collect(body) }
    void post(Closure body) {
        stage.post = new PostBuilder()
        Section.run(body, stage.post)
    }
    void tools(Closure body) { }

    private void once(String what, Object current) {
        if (current != null) throw new StubError("stage '${stage.name}': ${what} given twice")
    }
}

class StagesBuilder extends Section {
    List<StageDef> stages = []
    String sectionName() { 'stages' }

    void stage(String name, Closure body) {
        if (stages.any { it.name == name }) throw new StubError("two stages named '${name}'")
        StageDef def_ = new StageDef(name: name)
        Section.run(body, new StageBuilder(stage: def_))
        int bodies = [def_.steps, def_.stages, def_.parallel].count { it != null }
        if (bodies != 1) throw new StubError("stage '${name}' needs exactly one of steps, stages, parallel")
        stages << def_
    }

    static List<StageDef> collect(Closure body) {
        StagesBuilder b = new StagesBuilder()
        Section.run(body, b)
        if (!b.stages) throw new StubError('stages without a stage')
        return b.stages
    }
}

class PipelineBuilder extends Section {
    AgentSpec agent
    List options = []
    List triggers = []
    List parameters = []
    EnvironmentBuilder environment
    List<StageDef> stages
    PostBuilder post
    String sectionName() { 'pipeline' }

    String getNone() { 'none' }
    String getAny() { 'any' }

    void agent(String kind) { agent = new AgentSpec(kind: kind) }
    void agent(Closure body) { agent = new AgentSpec(kind: 'block', body: body) }
    void options(Closure body) {
        OptionsBuilder b = new OptionsBuilder(stageLevel: false)
        Section.run(body, b)
        options = b.options
    }
    void triggers(Closure body) {
        TriggersBuilder b = new TriggersBuilder()
        Section.run(body, b)
        triggers = b.triggers
    }
    void parameters(Closure body) {
        ParametersBuilder b = new ParametersBuilder()
        Section.run(body, b)
        parameters = b.parameters
    }
    void environment(Closure body) {
        environment = new EnvironmentBuilder()
        Section.run(body, environment)
    }
    void stages(Closure body) { stages = StagesBuilder.collect(body) }
    void post(Closure body) {
        post = new PostBuilder()
        Section.run(body, post)
    }
    void tools(Closure body) { }
    void libraries(Closure body) { }
}

// ------------------------------------------------------------------------- the script base class

abstract class PipelineScript extends Script {

    Sim getSim() { Sim.current }

    // ---- globals
    EnvObject getEnv() { new EnvObject() }
    Map getParams() { Collections.unmodifiableMap(sim.params) }
    CurrentBuild getCurrentBuild() { new CurrentBuild() }
    PullRequestStub getPullRequest() { new PullRequestStub() }
    String getScm() { 'scm' }

    def methodMissing(String name, args) {
        throw new StubError("unknown step or function '${name}' (not in the stub: tests/jenkins/run_jenkinsfile.groovy)")
    }

    // ---- pipeline
    void pipeline(Closure body) {
        if (sim.pipelineInfo.defined) throw new StubError('pipeline {} given twice')
        PipelineBuilder p = new PipelineBuilder()
        Section.run(body, p)
        if (p.agent == null) throw new StubError('pipeline needs an agent')
        if (!p.stages) throw new StubError('pipeline needs stages')
        new Runner(script: this).run(p)
    }

    // ---- steps
    Object sh(String script) { sh(script: script) }
    Object sh(GString script) { sh(script: script.toString()) }
    Object sh(Map a) {
        String command = Sim.str(a.script)
        if (command == null) throw new StubError('sh without a script')
        requireAgent('sh')
        boolean failing = (sim.event.fail ?: []).any { command =~ it }
        sim.record(type: 'sh', command: command, returnStdout: a.returnStdout ?: false, returnStatus: a.returnStatus ?: false,
                   failed: failing)
        if (a.returnStatus) return failing ? 1 : 0
        if (failing) throw new StepFailure("script returned exit code 1: ${command}")
        if (a.returnStdout) {
            String out = ''
            (sim.event.stdout ?: [:]).each { k, v -> if (command =~ k) out = v }
            return out
        }
        return null
    }

    void echo(Object message) { sim.record(type: 'echo', message: Sim.str(message)) }

    Object script(Closure body) { body.call() }

    void error(Object message) {
        sim.record(type: 'error', message: Sim.str(message))
        throw new StepFailure(Sim.str(message))
    }

    // Credentials Binding plugin: the binding factories and withCredentials.
    Map string(Map a) { binding_('string', a, ['variable']) }
    Map file(Map a) { binding_('file', a, ['variable']) }
    Map usernamePassword(Map a) { binding_('usernamePassword', a, ['usernameVariable', 'passwordVariable']) }
    Map usernameColonPassword(Map a) { binding_('usernameColonPassword', a, ['variable']) }
    Map sshUserPrivateKey(Map a) { binding_('sshUserPrivateKey', a, ['keyFileVariable']) }

    Map binding_(String type, Map a, List<String> vars) {
        if (!a.credentialsId) throw new StubError("${type}(...) without credentialsId")
        List variables = vars.collect { a[it] }
        if (variables.any { !it }) throw new StubError("${type}(${a.credentialsId}) needs ${vars.join(', ')}")
        [bindingType: type, id: Sim.str(a.credentialsId), variables: variables.collect { Sim.str(it) }]
    }

    Object withCredentials(List bindings, Closure body) {
        bindings.each { if (!(it instanceof Map) || !it.bindingType) throw new StubError("withCredentials takes binding(...) entries, got ${it}") }
        requireAgent('withCredentials')
        sim.record(type: 'withCredentials', ids: bindings.collect { it.id })
        return withBound(bindings.collect { [id: it.id, variables: it.variables] }, body)
    }

    Object withBound(List bound, Closure body) {
        Map saved = new LinkedHashMap(sim.env)
        bound.each { b -> b.variables.each { v -> sim.env[v] = '****' } }
        sim.credentials.addAll(bound)
        try {
            return body.call()
        } finally {
            bound.size().times { sim.credentials.remove(sim.credentials.size() - 1) }
            sim.env.clear()
            sim.env.putAll(saved)
        }
    }

    // Lockable Resources plugin.
    Object lock(String resource, Closure body) { lock([resource: resource], body) }
    Object lock(Map a, Closure body) {
        String resource = Sim.str(a.resource ?: a.label)
        if (!resource) throw new StubError('lock without a resource')
        if (resource in sim.locks) throw new StubError("lock ${resource} taken twice (it would wait forever)")
        sim.record(type: 'lock', resource: resource)
        sim.locks << resource
        try {
            return body.call()
        } finally {
            sim.locks.remove(resource)
        }
    }

    Object timeout(Map a, Closure body) {
        sim.timeouts << [time: a.time, unit: a.unit ?: 'MINUTES']
        try {
            return body.call()
        } finally {
            sim.timeouts.remove(sim.timeouts.size() - 1)
        }
    }

    Object input(String message) { input(message: message) }
    Object input(Map a) {
        sim.record(type: 'input', message: Sim.str(a.message), ok: Sim.str(a.ok), submitter: Sim.str(a.submitter))
        if (sim.event.approve == false) throw new BuildAborted("input '${a.message}' was declined")
        return a.submitterParameter ? 'approver' : null
    }

    void archiveArtifacts(String artifacts) { archiveArtifacts(artifacts: artifacts) }
    void archiveArtifacts(Map a) {
        if (!a.artifacts) throw new StubError('archiveArtifacts without artifacts')
        requireAgent('archiveArtifacts')
        sim.record(type: 'archiveArtifacts', artifacts: Sim.str(a.artifacts), allowEmptyArchive: a.allowEmptyArchive ?: false)
    }

    Object catchError(Closure body) { catchError([:], body) }
    Object catchError(Map a, Closure body) {
        try {
            return body.call()
        } catch (StepFailure failure) {
            String buildResult = a.buildResult ?: 'FAILURE'
            sim.record(type: 'caught', message: failure.message, buildResult: buildResult, stageResult: a.stageResult ?: buildResult)
            if (rank(buildResult) > rank(sim.result)) sim.result = buildResult
            return null
        }
    }

    static int rank(String result) { ['SUCCESS', 'UNSTABLE', 'FAILURE', 'ABORTED'].indexOf(result) }

    // stash/unstash: files carried from one agent to a later one within the build.
    void stash(String name) { stash(name: name) }
    void stash(Map a) {
        if (!a.name) throw new StubError('stash without a name')
        requireAgent('stash')
        sim.record(type: 'stash', name: Sim.str(a.name), includes: Sim.str(a.includes ?: '**'))
        sim.stashes << Sim.str(a.name)
    }

    void unstash(String name) {
        requireAgent('unstash')
        sim.record(type: 'unstash', name: name)
        if (!(name in sim.stashes)) throw new StepFailure("No such saved stash '${name}'")
    }

    String readFile(String file) { readFile(file: file) }
    String readFile(Map a) {
        requireAgent('readFile')
        sim.record(type: 'readFile', file: Sim.str(a.file))
        Map files = sim.event.files ?: [:]
        return files.containsKey(a.file) ? files[a.file] : "(content of ${a.file})\n".toString()
    }

    void writeFile(Map a) {
        requireAgent('writeFile')
        sim.record(type: 'writeFile', file: Sim.str(a.file))
    }

    boolean fileExists(String path) { true }

    Object dir(String path, Closure body) {
        sim.dirs << path
        try {
            return body.call()
        } finally {
            sim.dirs.remove(sim.dirs.size() - 1)
        }
    }

    Object withEnv(List vars, Closure body) {
        Map saved = new LinkedHashMap(sim.env)
        sim.record(type: 'withEnv', vars: vars.collect { it.toString() })
        vars.each { Object entry -> String kv = entry.toString(); int i = kv.indexOf('='); sim.env[kv.substring(0, i)] = kv.substring(i + 1) }
        try {
            return body.call()
        } finally {
            sim.env.clear()
            sim.env.putAll(saved)
        }
    }

    Object retry(int times, Closure body) { body.call() }
    void sleep(Object time) { }
    void checkout(Object what) { sim.record(type: 'checkout', scm: Sim.str(what)) }
    void deleteDir() { sim.record(type: 'deleteDir') }
    void cleanWs(Map a = [:]) { sim.record(type: 'cleanWs') }

    void requireAgent(String step) {
        if (sim.agent == null || sim.agent.kind == 'none') throw new StubError("${step} needs an agent (stage '${sim.stagePath.join(' / ')}' has none)")
    }
}

// ------------------------------------------------------------------------- execution

class Runner {
    PipelineScript script
    Sim getSim() { Sim.current }

    void run(PipelineBuilder p) {
        sim.pipelineInfo = [defined: true, options: p.options, triggers: p.triggers, parameters: p.parameters,
                            agent: p.agent.kind in ['none', 'any', 'label'] ? [kind: p.agent.kind] : [kind: 'block']]
        Map overrides = sim.event.params ?: [:]
        overrides.keySet().each { k -> if (!p.parameters.any { it.name == k }) throw new StubError("event sets unknown parameter ${k}") }
        p.parameters.each { param ->
            Object value = overrides.containsKey(param.name) ? overrides[param.name] : param.default
            if (param.type == 'choice' && !(value in param.choices)) throw new StubError("${param.name}=${value} is not one of ${param.choices}")
            sim.params[param.name] = value
            sim.env[param.name] = Sim.str(value)
        }
        declare(p.stages, [])
        List bound = applyEnvironment(p.environment)
        sim.credentials.addAll(bound)
        try {
            withOptions(p.options) {
                withAgent(p.agent, p.options) {
                    try {
                        runStages(p.stages)
                    } finally {
                        runPost(p.post)
                    }
                }
            }
        } catch (StepFailure failure) {
            sim.result = 'FAILURE'
            sim.record(type: 'failure', message: failure.message)
        } catch (BuildAborted aborted) {
            sim.result = 'ABORTED'
            sim.record(type: 'aborted', message: aborted.message)
        }
    }

    private void declare(List<StageDef> stages, List<String> parent) {
        stages.each { StageDef s ->
            List<String> path = parent + [s.name]
            sim.declaredStages << [path: path, name: s.name, options: s.options, when: s.when?.conditions?.collect { it.describe() },
                                   beforeAgent: s.when?.beforeAgent, beforeInput: s.when?.beforeInput, input: s.input,
                                   hasAgent: s.agent != null, leaf: s.steps != null]
            if (s.stages) declare(s.stages, path)
            if (s.parallel) declare(s.parallel, path)
        }
    }

    private List applyEnvironment(EnvironmentBuilder environment) {
        List bound = []
        environment?.values?.each { String name, value ->
            if (value instanceof CredentialRef) {
                bound << [id: value.id, variables: [name]]
                sim.env[name] = '****'
            } else {
                sim.env[name] = value
            }
        }
        if (bound) sim.record(type: 'withCredentials', ids: bound.collect { it.id })
        return bound
    }

    private void withOptions(List options, Closure body) {
        Closure wrapped = body
        options.reverse().each { Map o ->
            Closure inner = wrapped
            if (o.name == 'timeout') wrapped = { -> script.timeout((Map) o.args, inner) }
            else if (o.name == 'lock') wrapped = { -> o.args instanceof Map ? script.lock((Map) o.args, inner) : script.lock(o.args.toString(), inner) }
        }
        wrapped.call()
    }

    private void withAgent(AgentSpec spec, List options, Closure body) {
        if (spec == null) { body.call(); return }
        Map saved = sim.agent
        sim.agent = spec.resolve()
        if (sim.agent.kind == 'none') {
            try { body.call() } finally { sim.agent = saved }
            return
        }
        if (sim.agent.kind == 'docker' && !sim.agent.image) throw new StubError('docker agent without an image')
        sim.record(type: 'agent', spec: sim.agent)
        if (!options.any { it.name == 'skipDefaultCheckout' }) {
            sim.record(type: 'checkout', scm: 'scm', commit: sim.env.GIT_COMMIT)
        }
        try {
            body.call()
        } finally {
            sim.agent = saved
        }
    }

    void runStages(List<StageDef> stages) {
        for (int i = 0; i < stages.size(); i++) {
            try {
                runStage(stages[i])
            } catch (StepFailure | BuildAborted stop) {
                stages.drop(i + 1).each { skip(it, stop instanceof BuildAborted ? 'aborted' : 'an earlier stage failed') }
                throw stop
            }
        }
    }

    private void skip(StageDef s, String reason) {
        sim.stagePath << s.name
        sim.record(type: 'stage', name: s.name, status: 'skipped', reason: reason)
        sim.stagePath.remove(sim.stagePath.size() - 1)
    }

    private boolean passes(WhenBuilder when) {
        when == null || when.conditions.every { it.eval(script) }
    }

    void runStage(StageDef s) {
        WhenBuilder when = s.when
        if (when?.beforeOptions && !passes(when)) { skip(s, 'when'); return }
        sim.stagePath << s.name
        String stageResultBefore = sim.result
        try {
            withOptions(s.options) {
                if (when?.beforeInput && !passes(when)) throw new SkipStage()
                if (s.input) {
                    sim.record(type: 'input', message: s.input.message, ok: s.input.ok, submitter: s.input.submitter)
                    if (sim.event.approve == false) throw new BuildAborted("input '${s.input.message}' was declined")
                    if (s.input.submitterParameter) sim.env[s.input.submitterParameter] = 'approver'
                }
                if (when?.beforeAgent && !passes(when)) throw new SkipStage()
                Closure afterAgent = {
                    if (when && !when.beforeAgent && !when.beforeInput && !when.beforeOptions && !passes(when)) throw new SkipStage()
                    sim.record(type: 'stage', name: s.name, status: 'started')
                    List bound = applyEnvironment(s.environment)
                    sim.credentials.addAll(bound)
                    try {
                        try {
                            if (s.steps != null) {
                                Closure c = (Closure) s.steps.clone()
                                c.resolveStrategy = Closure.DELEGATE_FIRST
                                c.delegate = script
                                c.call()
                            } else if (s.stages != null) {
                                runStages(s.stages)
                            } else {
                                s.parallel.each { runStage(it) }
                            }
                        } catch (StepFailure failure) {
                            sim.record(type: 'stageFailed', name: s.name, message: failure.message)
                            sim.result = 'FAILURE'
                            throw failure
                        } finally {
                            runPost(s.post)
                        }
                    } finally {
                        bound.size().times { sim.credentials.remove(sim.credentials.size() - 1) }
                    }
                }
                if (s.agent != null) withAgent(s.agent, s.options, afterAgent) else afterAgent.call()
            }
        } catch (SkipStage skipped) {
            sim.record(type: 'stage', name: s.name, status: 'skipped', reason: 'when')
        } finally {
            sim.stagePath.remove(sim.stagePath.size() - 1)
        }
    }

    private void runPost(PostBuilder post) {
        if (post == null) return
        String result = sim.result
        Map<String, Boolean> applies = [always: true, success: result == 'SUCCESS', failure: result == 'FAILURE',
                                        unstable: result == 'UNSTABLE', aborted: result == 'ABORTED',
                                        unsuccessful: result != 'SUCCESS', changed: false, fixed: false, regression: false,
                                        cleanup: true]
        PostBuilder.CONDITIONS.each { String condition ->
            Closure body = post.bodies[condition]
            if (body != null && applies[condition]) {
                sim.record(type: 'post', condition: condition)
                Closure c = (Closure) body.clone()
                c.resolveStrategy = Closure.DELEGATE_FIRST
                c.delegate = script
                c.call()
            }
        }
    }
}

class SkipStage extends RuntimeException {
    SkipStage() { super('skipped by when', null, false, false) }
}

// ------------------------------------------------------------------------- main

if (args.length != 2) {
    System.err.println('usage: groovy run_jenkinsfile.groovy <Jenkinsfile> <events JSON>')
    System.exit(2)
}
File jenkinsfile = new File(args[0])
Object parsed = new JsonSlurper().parseText(args[1])
List events = parsed instanceof List ? (List) parsed : [parsed]

CompilerConfiguration config = new CompilerConfiguration()
config.scriptBaseClass = PipelineScript.name
GroovyShell shell = new GroovyShell(this.class.classLoader, new Binding(), config)
Class scriptClass
try {
    scriptClass = shell.parse(jenkinsfile.getText('UTF-8'), 'Jenkinsfile').getClass()
} catch (CompilationFailedException e) {
    System.err.println("Jenkinsfile does not compile:\n${e.message}")
    System.exit(1)
}

List outputs = []
for (Object raw : events) {
    Map event = (Map) raw
    Sim sim = new Sim(event: event)
    Sim.current = sim
    String branch = event.branch ?: 'main'
    sim.env.putAll([BRANCH_NAME: branch, GIT_COMMIT: event.commit ?: '0123456789abcdef0123456789abcdef01234567',
                    BUILD_NUMBER: '42', JOB_NAME: "dataops-monitoring/${branch}".toString(), WORKSPACE: '/workspace'])
    if (event.changeTarget) {
        sim.env.putAll([CHANGE_ID: branch.replaceAll(/\D/, '') ?: '1', CHANGE_TARGET: event.changeTarget,
                        CHANGE_BRANCH: event.changeBranch ?: 'feature'])
        if (event.changeUrl) sim.env.CHANGE_URL = event.changeUrl
    }
    try {
        PipelineScript script = (PipelineScript) scriptClass.newInstance()
        script.binding = new Binding()
        script.run()
        if (!sim.pipelineInfo.defined) throw new StubError('the Jenkinsfile has no pipeline {} block')
    } catch (StubError e) {
        System.err.println("Jenkinsfile misuses the declarative DSL: ${e.message}")
        System.exit(2)
    } catch (Exception e) {
        System.err.println("Jenkinsfile failed at run time: ${e}")
        e.stackTrace.findAll { it.fileName == 'Jenkinsfile' }.take(5).each { System.err.println("  at Jenkinsfile line ${it.lineNumber}") }
        System.exit(3)
    }
    outputs << [event: event, result: sim.result, pipeline: sim.pipelineInfo, stages: sim.declaredStages,
                params: sim.params, records: sim.records]
}
println JsonOutput.toJson(parsed instanceof List ? outputs : outputs[0])
