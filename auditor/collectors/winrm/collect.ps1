# auditor host collector, request/response contract version 1. Windows PowerShell 5.1.
# Reads only: registry values, local group members (by SID), certificates, RDP, IIS configuration
# files (applicationHost.config, each application's root web.config), sshd_config,
# session configurations, WinHTTP proxy, services and firewall rules. IIS files go back raw;
# Python keeps of an impersonation password only whether one is present.
# Input: -RequestJson (see auditor/collectors/winrm/request.py). Output: one JSON string.
param([Parameter(Mandatory = $true)][string]$RequestJson)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0
$request = ConvertFrom-Json -InputObject $RequestJson

function New-Failure([System.Exception]$Exception) {
    $reason = 'collector_error'
    if ($Exception -is [System.UnauthorizedAccessException] -or
        $Exception -is [System.Security.SecurityException]) { $reason = 'access_denied' }
    if ($Exception -is [System.Management.Automation.CommandNotFoundException]) { $reason = 'not_supported' }
    @{ error = @{ reason = $reason; detail = $Exception.Message } }
}

function Invoke-Section([string]$Name, [scriptblock]$Body) {
    if (@($request.sections) -notcontains $Name) { return }
    try { $script:sections[$Name] = @{ ok = (& $Body) } }
    catch { $script:sections[$Name] = New-Failure $_.Exception }
}

function Get-RegistryEntry([string]$Path) {
    $parts = $Path -split '\\'
    if ($parts[0] -ne 'HKLM') { throw [System.ArgumentException]"only HKLM paths are read: $Path" }
    $subKey = ($parts[1..($parts.Count - 2)]) -join '\'
    $valueName = $parts[-1]
    $key = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($subKey, $false)
    if ($null -eq $key) { return @{ present = $false; type = $null; data = $null } }
    try {
        if (@($key.GetValueNames()) -notcontains $valueName) {
            return @{ present = $false; type = $null; data = $null }
        }
        $kind = $key.GetValueKind($valueName)
        $data = $key.GetValue($valueName, $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
        if ($kind -eq [Microsoft.Win32.RegistryValueKind]::Binary) { $data = [Convert]::ToBase64String($data) }
        $typeName = 'REG_' + $kind.ToString().ToUpperInvariant()
        if ($kind -eq [Microsoft.Win32.RegistryValueKind]::ExpandString) { $typeName = 'REG_EXPAND_SZ' }
        if ($kind -eq [Microsoft.Win32.RegistryValueKind]::MultiString) { $typeName = 'REG_MULTI_SZ' }
        if ($kind -eq [Microsoft.Win32.RegistryValueKind]::String) { $typeName = 'REG_SZ' }
        return @{ present = $true; type = $typeName; data = $data }
    }
    finally { $key.Close() }
}

function Get-CertificateFacts([System.Security.Cryptography.X509Certificates.X509Certificate2]$Cert) {
    $sans = @()
    foreach ($ext in $Cert.Extensions) {
        if ($ext.Oid.Value -eq '2.5.29.17') {
            $sans = @(($ext.Format($false) -split ', ') | ForEach-Object { ($_ -split '[=:]', 2)[-1] })
        }
    }
    $keySize = $null
    try { $keySize = $Cert.PublicKey.Key.KeySize } catch { $keySize = $null }
    @{
        thumbprint = $Cert.Thumbprint.ToUpperInvariant()
        subject = $Cert.Subject
        issuer = $Cert.Issuer
        self_signed = ($Cert.Subject -eq $Cert.Issuer)
        not_before = $Cert.NotBefore.ToUniversalTime().ToString('o')
        not_after = $Cert.NotAfter.ToUniversalTime().ToString('o')
        key_algorithm = $Cert.PublicKey.Oid.FriendlyName
        key_size = $keySize
        signature_algorithm = $Cert.SignatureAlgorithm.FriendlyName
        sans = $sans
        store = 'LocalMachine\My'
    }
}

function Read-ConfigText([string]$Path, [long]$Limit) {
    # A configuration file's XML text (no DTD processed), past $Limit only its size. Credential
    # values are blanked: Python needs only their presence, and a host's secrets stay on it.
    $entry = @{ path = $Path; present = $false; size = $null; text = $null }
    $file = New-Object System.IO.FileInfo $Path
    if (-not $file.Exists) { return $entry }
    $entry.present = $true
    $entry.size = $file.Length
    if ($file.Length -gt $Limit) { return $entry }
    $settings = New-Object System.Xml.XmlReaderSettings
    $settings.DtdProcessing = [System.Xml.DtdProcessing]::Prohibit
    $settings.XmlResolver = $null
    $doc = New-Object System.Xml.XmlDocument
    $doc.PreserveWhitespace = $true
    $reader = [System.Xml.XmlReader]::Create($Path, $settings)
    try { $doc.Load($reader) } finally { $reader.Close() }
    foreach ($attribute in @($doc.SelectNodes('//@*'))) {
        if (@('password', 'connectionString') -contains $attribute.LocalName -and $attribute.Value -and
            $attribute.Value -notlike 'registry:*') { $attribute.Value = '[redacted]' }
    }
    $entry.text = $doc.OuterXml
    $entry
}

function Get-IisConfiguration {
    # applicationHost.config, redirection.config and each application's root web.config as text:
    # which settings apply where is decided in Python (auditor/collectors/iis/).
    $configDir = Join-Path $env:windir 'System32\inetsrv\config'
    $appHostPath = Join-Path $configDir 'applicationHost.config'
    $answer = @{
        application_host = Read-ConfigText $appHostPath (4 * 1024 * 1024)
        redirection = Read-ConfigText (Join-Path $configDir 'redirection.config') (64 * 1024)
        web_configs = @()
    }
    if ($null -eq $answer.application_host.text) { return $answer }
    $sites = New-Object System.Xml.XmlDocument
    $sites.LoadXml($answer.application_host.text)
    $budget = [long](4 * 1024 * 1024)
    $answer.web_configs = @(foreach ($site in $sites.SelectNodes('/configuration/system.applicationHost/sites/site')) {
        foreach ($app in $site.SelectNodes('application')) {
            $vdir = $app.SelectSingleNode("virtualDirectory[@path='/']")
            if ($null -eq $vdir) { continue }
            $physical = $vdir.GetAttribute('physicalPath')
            $path = [System.IO.Path]::Combine([Environment]::ExpandEnvironmentVariables($physical), 'web.config')
            try { $entry = Read-ConfigText $path ([Math]::Min([long](256 * 1024), $budget)) }
            catch { $entry = New-Failure $_.Exception }
            if ($entry.ContainsKey('text') -and $null -ne $entry.text) { $budget -= $entry.size }
            $entry.site = $site.GetAttribute('name')
            $entry.application = $app.GetAttribute('path')
            $entry.physical_path = $physical
            $entry
        }
    })
    $answer
}

$script:sections = @{}
$registry = @{}
foreach ($path in @($request.registry)) {
    if (-not $path) { continue }
    try { $registry[$path] = Get-RegistryEntry $path }
    catch { $registry[$path] = New-Failure $_.Exception }
}

Invoke-Section 'os' {
    $os = Get-CimInstance -ClassName Win32_OperatingSystem
    $cs = Get-CimInstance -ClassName Win32_ComputerSystem
    @{
        caption = $os.Caption; version = $os.Version; build = [int]$os.BuildNumber
        product_type = [int]$os.ProductType; domain = $cs.Domain; joined = [bool]$cs.PartOfDomain
        hostname = $env:COMPUTERNAME
    }
}
Invoke-Section 'local_groups' {
    $groups = @{}
    foreach ($sid in @($request.local_groups)) {
        $groups[$sid] = @(Get-LocalGroupMember -SID $sid -ErrorAction Stop | ForEach-Object {
            @{ sid = $_.SID.Value; name = $_.Name; class = $_.ObjectClass; domain = $_.PrincipalSource.ToString() }
        })
    }
    $groups
}
Invoke-Section 'certificates' {
    @(Get-ChildItem -Path Cert:\LocalMachine\My | ForEach-Object { Get-CertificateFacts $_ })
}
Invoke-Section 'rdp' {
    $setting = Get-CimInstance -Namespace root\cimv2\TerminalServices -ClassName Win32_TSGeneralSetting -Filter "TerminalName='RDP-tcp'"
    @{ certificate_thumbprint = [string]$setting.SSLCertificateSHA1Hash }
}
Invoke-Section 'iis' { Get-IisConfiguration }
Invoke-Section 'ssh' {
    $path = Join-Path $env:ProgramData 'ssh\sshd_config'
    if (-not (Test-Path -LiteralPath $path)) { return @{ present = $false; path = $path } }
    @{ present = $true; path = $path; lines = @(Get-Content -LiteralPath $path) }
}
Invoke-Section 'session_configurations' {
    @(Get-PSSessionConfiguration | ForEach-Object {
        @{
            name = $_.Name; enabled = [bool]$_.Enabled; permission = [string]$_.Permission
            sddl = [string]$_.SecurityDescriptorSddl; run_as_virtual_account = [bool]$_.RunAsVirtualAccount
            session_type = [string]$_.SessionType; language_mode = [string]$_.LanguageMode
        }
    })
}
Invoke-Section 'winhttp_proxy' {
    Get-RegistryEntry 'HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections\WinHttpSettings'
}
Invoke-Section 'services' {
    $found = @{}
    foreach ($name in @($request.services)) {
        $service = Get-Service -Name $name -ErrorAction SilentlyContinue
        if ($null -ne $service) { $found[$name] = @{ state = $service.Status.ToString(); start_mode = $service.StartType.ToString() } }
    }
    $found
}
Invoke-Section 'firewall_rules' {
    @(Get-NetFirewallRule -Name @($request.firewall_rules) -ErrorAction SilentlyContinue | ForEach-Object {
        @{ id = $_.Name; enabled = ($_.Enabled.ToString() -eq 'True'); direction = $_.Direction.ToString(); action = $_.Action.ToString(); profiles = $_.Profile.ToString() }
    })
}

ConvertTo-Json -Compress -Depth 12 -InputObject @{
    version = 1
    collected_at = [DateTime]::UtcNow.ToString('o')
    registry = $registry
    sections = $script:sections
}
